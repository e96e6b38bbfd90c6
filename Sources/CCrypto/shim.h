#ifndef UPLOADVERIFY_CCRYPTO_SHIM_H
#define UPLOADVERIFY_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#endif
