import ArgumentParser
import FERStream

/// The options that find faces, shared by the stream and image commands.
struct FaceOptions: ParsableArguments {
    @Option(name: .customLong("min-face"), help: "Smallest face to detect, in pixels of the frame (yunet: down to about 24).")
    var minFace: Int = 40

    @Option(help: "Face detector: yunet (a CNN with landmarks), haar (Viola–Jones), or full-frame (the whole frame is one face).")
    var detector: DetectorOptions.Kind = .yunet

    @Option(name: .customLong("detector-model"), help: "YuNet weights. Default: the bundled Models/yunet.safetensors (or $FER_STREAM_DETECTOR).")
    var detectorModel: String?

    @Option(help: ArgumentHelp("Framing of the face crop when the detector gives landmarks: SCALE,CENTRE (the side in eye–mouth distances, the centre's place from the eyes to the mouth; default 3,0.4), or box (the box's square, as without landmarks).", valueName: "framing"),
            transform: Framing.init(argument:))
    var framing: Framing?

    @Option(help: "OpenCV Haar cascade XML for --detector haar.")
    var cascade: String = HaarCascade.defaultFrontalFacePath

    func validate() throws {
        guard minFace >= 8 else { throw ValidationError("--min-face must be ≥ 8 pixels, not \(minFace)") }
    }

    /// The library's options these stand for.
    var detectorOptions: DetectorOptions {
        var o = DetectorOptions()
        o.kind = detector
        o.minFaceSize = minFace
        o.model = detectorModel
        o.cascade = cascade
        if let framing { o.alignment = framing.alignment }
        return o
    }
}
