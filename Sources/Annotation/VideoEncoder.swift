import CFFmpeg
import FFmpegSupport
import FERCore
import Pipeline

/// Encodes `ColourPicture`s into a video file through libavformat/libavcodec: the container from
/// the file name (`.mp4`, `.mkv`, `.mov`, `.avi`…), its default video codec (H.264 by libx264 for
/// mp4/mkv/mov), each picture at its own presentation time. Owns every FFmpeg object it makes;
/// `finish()` writes the trailer (also after a failed run, so what was encoded stays playable).
final class VideoEncoder {
    let path: String
    let width: Int
    let height: Int
    private var output: UnsafeMutablePointer<AVFormatContext>?
    private var codec: UnsafeMutablePointer<AVCodecContext>?
    /// Made first in `init`, so that `deinit` runs (and frees the rest) whatever fails after them.
    private let frame: FrameBuffer
    private let packet: PacketBuffer
    /// Optional like the others, so that every stored property is set from the start and
    /// `deinit` frees what a failed `init` made.
    private var stream: UnsafeMutablePointer<AVStream>?
    private var lastPTS: Int64?
    private var finished = false

    /// Opens `path` for pictures of `width`×`height` (odd sizes are padded by one row/column,
    /// which 4:2:0 encoders need); `frameRate` guides the encoder's rate control.
    init(path: String, width: Int, height: Int, frameRate: Double?) throws(PipelineError) {
        self.path = path
        self.width = width
        self.height = height
        func fail(_ reason: String) -> PipelineError { .output(path: path, reason: reason) }
        do {
            frame = try FrameBuffer()
            packet = try PacketBuffer()
        } catch {
            throw fail("out of memory")
        }

        var oc: UnsafeMutablePointer<AVFormatContext>? = nil
        guard avformat_alloc_output_context2(&oc, nil, nil, path) >= 0, let oc else {
            throw fail("unknown video format for this file name (use .mp4, .mkv, .mov or .avi)")
        }
        output = oc
        let codecID = oc.pointee.oformat.pointee.video_codec
        guard codecID != AV_CODEC_ID_NONE else { throw fail("the \(String(cString: oc.pointee.oformat.pointee.name)) format holds no video") }
        // libx264 by name: it is the H.264 encoder a person expects (hardware ones may be listed first).
        let encoder = (codecID == AV_CODEC_ID_H264 ? avcodec_find_encoder_by_name("libx264") : nil) ?? avcodec_find_encoder(codecID)
        guard let encoder else { throw fail("this FFmpeg has no \(String(cString: avcodec_get_name(codecID))) encoder") }
        guard let st = avformat_new_stream(oc, nil), let ctx = avcodec_alloc_context3(encoder) else { throw fail("out of memory") }
        stream = st
        codec = ctx

        ctx.pointee.width = Int32(width + width % 2)
        ctx.pointee.height = Int32(height + height % 2)
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        ctx.pointee.color_range = AVCOL_RANGE_MPEG
        // Fine enough for any frame rate, exact for 25, 30, 29.97, 60…; MPEG-4 part 2 and older
        // codecs allow denominators below 2^16 only.
        let fine = [AV_CODEC_ID_H264, AV_CODEC_ID_HEVC, AV_CODEC_ID_VP8, AV_CODEC_ID_VP9, AV_CODEC_ID_AV1].contains(codecID)
        ctx.pointee.time_base = AVRational(num: 1, den: fine ? 90_000 : 1_000)
        if let frameRate, frameRate > 0 { ctx.pointee.framerate = av_d2q(frameRate, 100_000) }
        if oc.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            ctx.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
        }
        var opts: OpaquePointer? = nil
        defer { av_dict_free(&opts) }
        if String(cString: encoder.pointee.name) == "libx264" {
            // Cheap to encode (the CPU is busy recognising) and good enough to read the labels.
            av_dict_set(&opts, "preset", "veryfast", 0)
            av_dict_set(&opts, "crf", "21", 0)
        }
        var rc = avcodec_open2(ctx, encoder, &opts)
        guard rc >= 0 else { throw fail("cannot open the \(String(cString: encoder.pointee.name)) encoder: \(ffmpegMessage(rc))") }
        rc = avcodec_parameters_from_context(st.pointee.codecpar, ctx)
        guard rc >= 0 else { throw fail(ffmpegMessage(rc)) }
        st.pointee.time_base = ctx.pointee.time_base
        if let frameRate, frameRate > 0 { st.pointee.avg_frame_rate = av_d2q(frameRate, 100_000) }

        let f = frame.pointer
        f.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        f.pointee.width = ctx.pointee.width
        f.pointee.height = ctx.pointee.height
        f.pointee.color_range = AVCOL_RANGE_MPEG
        rc = av_frame_get_buffer(f, 0)
        guard rc >= 0 else { throw fail(ffmpegMessage(rc)) }

        if oc.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            rc = avio_open(&oc.pointee.pb, path, AVIO_FLAG_WRITE)
            guard rc >= 0 else { throw fail(ffmpegMessage(rc)) }
        }
        rc = avformat_write_header(oc, nil)
        guard rc >= 0 else { throw fail(ffmpegMessage(rc)) }
    }

    deinit {
        avcodec_free_context(&codec)
        if let oc = output {
            if oc.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 { avio_closep(&oc.pointee.pb) }
            avformat_free_context(oc)
        }
    }

    /// Encodes `picture` shown at `time` seconds. A picture of another size (the source changed
    /// size mid-stream) is scaled to the video's size.
    func encode(_ picture: ColourPicture, time: Double) throws(PipelineError) {
        guard !finished, let codec, let stream else { return }
        let frame = self.frame.pointer
        var rc = av_frame_make_writable(frame)
        guard rc >= 0 else { throw .output(path: path, reason: ffmpegMessage(rc)) }
        copy(picture, into: frame)
        // Presentation times must rise strictly, in the container's ticks too (Matroska counts
        // milliseconds); equal or earlier times (a glitch in the source's timestamps) move one
        // container tick later.
        let tb = codec.pointee.time_base
        var pts = Int64((time * Double(tb.den) / Double(tb.num)).rounded())
        let tick = max(1, av_rescale_q(1, stream.pointee.time_base, tb))
        if let last = lastPTS, pts < last + tick { pts = last + tick }
        lastPTS = pts
        frame.pointee.pts = pts
        rc = avcodec_send_frame(codec, frame)
        guard rc >= 0 else { throw .output(path: path, reason: ffmpegMessage(rc)) }
        try drain()
    }

    /// Flushes the encoder and writes the container's trailer; later calls do nothing.
    func finish() throws(PipelineError) {
        guard !finished, let codec, let output else { return }
        finished = true
        _ = avcodec_send_frame(codec, nil)
        try drain()
        let rc = av_write_trailer(output)
        guard rc >= 0 else { throw .output(path: path, reason: ffmpegMessage(rc)) }
        if output.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 { avio_closep(&output.pointee.pb) }
    }

    private func drain() throws(PipelineError) {
        guard let codec, let output, let stream else { return }
        let packet = self.packet.pointer
        while true {
            var rc = avcodec_receive_packet(codec, packet)
            if rc == fer_averror_eagain() || rc == fer_averror_eof() { return }
            guard rc >= 0 else { throw .output(path: path, reason: ffmpegMessage(rc)) }
            av_packet_rescale_ts(packet, codec.pointee.time_base, stream.pointee.time_base)
            packet.pointee.stream_index = stream.pointee.index
            rc = av_interleaved_write_frame(output, packet)  // takes the packet's data, resets it
            guard rc >= 0 else { throw .output(path: path, reason: ffmpegMessage(rc)) }
        }
    }

    /// Copies the planes into the encoder's frame: nearest-neighbour scaled if the size differs,
    /// the last row/column repeated into the padding of odd sizes.
    private func copy(_ p: ColourPicture, into f: UnsafeMutablePointer<AVFrame>) {
        let fw = Int(f.pointee.width), fh = Int(f.pointee.height)
        let planes: [([UInt8], Int, Int)] = [(p.y, p.width, p.height), (p.u, p.chromaWidth, p.chromaHeight), (p.v, p.chromaWidth, p.chromaHeight)]
        let targets = [(fw, fh), (fw / 2, fh / 2), (fw / 2, fh / 2)]
        let (data, strides) = f.planes
        // The picture's size in the video's frame (before padding): equal unless the source changed size.
        let sameSize = p.width == width && p.height == height
        for (i, (src, sw, sh)) in planes.enumerated() {
            guard let dst = data[i] else { continue }
            let stride = Int(strides[i])
            let (tw, th) = targets[i]
            let (vw, vh) = i == 0 ? (width, height) : ((width + 1) / 2, (height + 1) / 2)
            src.withUnsafeBufferPointer { s in
                for y in 0..<th {
                    let row = dst + y * stride
                    let sy = sameSize ? min(y, sh - 1) : min(sh - 1, min(y, vh - 1) * sh / vh)
                    if sameSize && sw >= tw {
                        row.update(from: s.baseAddress! + sy * sw, count: tw)
                    } else {
                        for x in 0..<tw {
                            let sx = sameSize ? min(x, sw - 1) : min(sw - 1, min(x, vw - 1) * sw / vw)
                            row[x] = s[sy * sw + sx]
                        }
                    }
                }
            }
        }
    }
}
