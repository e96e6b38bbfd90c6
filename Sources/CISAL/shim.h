#ifndef UPLOADVERIFY_CISAL_SHIM_H
#define UPLOADVERIFY_CISAL_SHIM_H
/* Intel ISA-L's Reed-Solomon erasure codes over GF(2^8) (libisal-dev). */
#include <isa-l/erasure_code.h>
#endif
