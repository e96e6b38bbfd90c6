#ifndef UPLOADVERIFY_CXXHASH_SHIM_H
#define UPLOADVERIFY_CXXHASH_SHIM_H
#include <xxhash.h>
#if defined(__x86_64__)
/* Debian's libxxhash picks AVX2/AVX-512 only through the *_dispatch entry points. */
#include <xxh_x86dispatch.h>
#endif
#endif
