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
#endif
