#ifndef FER_CFFMPEG_SHIM_H
#define FER_CFFMPEG_SHIM_H
// FFmpeg 5.1 (Debian libav*-dev). Macros that Swift cannot import are wrapped as inline functions.
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/error.h>
#include <libavutil/time.h>
#include <errno.h>

static inline int fer_averror(int e) { return AVERROR(e); }
static inline int fer_averror_eof(void) { return AVERROR_EOF; }
static inline int fer_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int fer_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int64_t fer_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational fer_time_base_q(void) { return AV_TIME_BASE_Q; }
/// Writes FFmpeg's message for `errnum` into `buf` (size `size`).
static inline void fer_av_strerror(int errnum, char *buf, size_t size) { av_make_error_string(buf, size, errnum); }

/// dst[y][x] = lut[src[y][x]] for a width×height 8-bit plane (a per-value mapping such as
/// limited→full range luma). In C so it is fast in debug builds too.
static inline void fer_map_plane(const uint8_t *src, int src_stride, uint8_t *dst, int dst_stride,
                                 int width, int height, const uint8_t *lut) {
    for (int y = 0; y < height; y++) {
        const uint8_t *s = src + (ptrdiff_t)y * src_stride;
        uint8_t *d = dst + (ptrdiff_t)y * dst_stride;
        for (int x = 0; x < width; x++) d[x] = lut[s[x]];
    }
}
#endif
