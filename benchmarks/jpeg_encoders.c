// The live view's JPEG encoder, chosen by measurement: Debian's libturbojpeg (tjCompressFromYUVPlanes,
// what Sources/LiveView/JPEG.swift calls) against libavcodec's MJPEG encoder, on the same frames of
// a generated clip (a real face), from the same YUV 4:2:0 planes, at a similar size.
//
//   benchmarks/jpeg_encoders.sh [WIDTHxHEIGHT] [FRAMES]
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s RAW_YUV420 WIDTH HEIGHT\n", argv[0]); return 2; }
    int w = atoi(argv[2]), h = atoi(argv[3]);
    size_t frame = (size_t)w * h * 3 / 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long total = ftell(f);
    fseek(f, 0, SEEK_SET);
    int n = (int)(total / frame);
    unsigned char *raw = malloc(total);
    if (fread(raw, 1, total, f) != (size_t)total) { fprintf(stderr, "short read\n"); return 1; }
    fclose(f);

    // libturbojpeg, quality 75, fast DCT (as the live view).
    tjhandle tj = tjInitCompress();
    double t0 = now();
    size_t tjBytes = 0;
    for (int i = 0; i < n; i++) {
        unsigned char *y = raw + i * frame, *u = y + w * h, *v = u + (w / 2) * (h / 2);
        const unsigned char *planes[3] = {y, u, v};
        int strides[3] = {w, w / 2, w / 2};
        unsigned char *out = NULL;
        unsigned long size = 0;
        if (tjCompressFromYUVPlanes(tj, planes, w, strides, h, TJSAMP_420, &out, &size, 75, TJFLAG_FASTDCT) != 0) { fprintf(stderr, "tj: %s\n", tjGetErrorStr2(tj)); return 1; }
        tjBytes += size;
        tjFree(out);
    }
    double tjTime = now() - t0;
    tjDestroy(tj);

    // libavcodec's mjpeg, one thread, qscale chosen to give about the same bytes per frame.
    int qscales[] = {4, 6, 8};
    for (int q = 0; q < 3; q++) {
        const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
        AVCodecContext *c = avcodec_alloc_context3(codec);
        c->width = w; c->height = h; c->pix_fmt = AV_PIX_FMT_YUVJ420P; c->time_base = (AVRational){1, 25};
        c->flags |= AV_CODEC_FLAG_QSCALE; c->global_quality = FF_QP2LAMBDA * qscales[q]; c->thread_count = 1;
        if (avcodec_open2(c, codec, NULL) < 0) { fprintf(stderr, "cannot open mjpeg\n"); return 1; }
        AVFrame *fr = av_frame_alloc();
        AVPacket *pkt = av_packet_alloc();
        fr->format = c->pix_fmt; fr->width = w; fr->height = h;
        size_t avBytes = 0;
        t0 = now();
        for (int i = 0; i < n; i++) {
            unsigned char *y = raw + i * frame;
            av_image_fill_arrays(fr->data, fr->linesize, y, AV_PIX_FMT_YUV420P, w, h, 1);
            fr->pts = i;
            fr->quality = c->global_quality;
            if (avcodec_send_frame(c, fr) < 0) { fprintf(stderr, "send\n"); return 1; }
            while (avcodec_receive_packet(c, pkt) == 0) { avBytes += pkt->size; av_packet_unref(pkt); }
        }
        double avTime = now() - t0;
        printf("{\"encoder\":\"libavcodec mjpeg q%d\",\"frames\":%d,\"ms_per_frame\":%.3f,\"bytes_per_frame\":%zu}\n", qscales[q], n, avTime * 1000 / n, avBytes / n);
        av_frame_free(&fr); av_packet_free(&pkt); avcodec_free_context(&c);
    }
    printf("{\"encoder\":\"libturbojpeg q75 fastdct\",\"frames\":%d,\"ms_per_frame\":%.3f,\"bytes_per_frame\":%zu}\n", n, tjTime * 1000 / n, tjBytes / n);
    free(raw);
    return 0;
}
