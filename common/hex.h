/*
 * hex: hexadecimal digits both ways, for hashes, PINs and %XX escapes.
 */
#ifndef TESSERA_COMMON_HEX_H
#define TESSERA_COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit (either case), or -1. */
int hex_value(int c);

/* n bytes as 2n lowercase digits into out (room for 2n + 1), NUL-ended. */
void hex_encode(const uint8_t *in, size_t n, char *out);

#endif
