#ifndef FER_CDNNL_SHIM_H
#define FER_CDNNL_SHIM_H
// oneDNN 2.6 (Debian libdnnl-dev, OpenMP runtime). What Swift cannot import is wrapped here.
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <dlfcn.h>

/// DNNL_MEMORY_ALLOCATE is `((void *)(size_t)-1)`: a cast Swift does not import.
static inline void *fer_dnnl_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }

/// The OpenMP runtime oneDNN runs on (libgomp) is a dependency of libdnnl, not of this package, so
/// its entry points are looked up at run time rather than linked. Returns 0 when not found.
static inline int fer_omp_set_num_threads(int n) {
    void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!set) return 0;
    set(n);
    return 1;
}

static inline int fer_omp_get_max_threads(void) {
    int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    return get ? get() : 0;
}
#endif
