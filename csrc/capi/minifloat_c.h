/* minifloat C ABI: the package's bit-exact projection and arithmetic on codes, callable from C,
 * from SystemVerilog (DPI-C), from ctypes and from any FFI.
 *
 * The implementation (minifloat_c.cpp) is a thin wrapper over the same header core the Python
 * extension is built from (csrc/include/minifloat: spec.h, project.h, arith.h, decode.h); it has
 * no algorithm of its own.  Semantics: docs/semantics.md (formats, projection, rounding,
 * saturation, random bits) and docs/hardware.md (exception flags).
 *
 * Conventions
 * - Every function returns an error code (MF_OK = 0 on success) except mf_abi_version and
 *   mf_error_string; outputs are written only on success.
 * - A format is described by a plain struct (mf_format); each call checks it (mf_check_format).
 * - Codes are passed as uint32_t and must be < 2^bits of their format.
 * - Rounding modes, saturations and operations are plain ints (the MF_* constants below).
 * - Stochastic modes take random_bits = N (1..32) and R, the N random bits of this rounding
 *   (R < 2^N); the caller supplies R (e.g. from its own LFSR or from a vector file).
 *   Deterministic modes ignore random_bits and R.
 * - Flags: a 5-bit mask, every bit computed exactly as docs/hardware.md §3 defines it, for every
 *   valid format (MF_FLAGS_COMPUTED).  A flags pointer may be NULL when not wanted.
 * - There is no flush-to-zero option (flush_subnormals of the Python API).
 * - Functions are pure and thread-safe.
 */
#ifndef MINIFLOAT_C_H
#define MINIFLOAT_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MF_C_API __declspec(dllexport)
#else
#define MF_C_API __attribute__((visibility("default")))
#endif

/* Version of this ABI: bumped when a struct, a signature or a constant changes meaning. */
#define MF_C_ABI_VERSION 1

/* A float format (docs/semantics.md §1).  Same fields and order as FloatFormat.spec in Python:
 * exp_bits 0..15, man_bits 0..15, total bits is_signed + exp_bits + man_bits in 2..16,
 * bias any integer in -2^20..2^20, flags 0/1, nan_layout one of MF_NAN_*.
 * negative_zero must be 0 with MF_NAN_NEGZERO and 1 with the other layouts (signed formats);
 * unsigned formats have no -0 and ignore it. */
typedef struct mf_format {
  int32_t exp_bits;
  int32_t man_bits;
  int32_t bias;
  int32_t is_signed;
  int32_t subnormals;
  int32_t infinities;
  int32_t nan_layout;
  int32_t negative_zero;
} mf_format;

/* NaN layouts (FloatFormat nan=) */
#define MF_NAN_IEEE 0    /* all-ones exponent, non-zero mantissa (float16, E5M2) */
#define MF_NAN_MAX 1     /* all-ones magnitude of each sign (OCP E4M3) */
#define MF_NAN_NEGZERO 2 /* the single code 100...0 (FNUZ, IEEE P3109) */
#define MF_NAN_NONE 3    /* no NaN (OCP FP6 / FP4) */

/* Rounding modes (docs/semantics.md §2).  "stochastic" of the Python API is
 * MF_STOCHASTIC_A with random_bits = 32. */
#define MF_NEAREST_EVEN 0
#define MF_NEAREST_AWAY 1
#define MF_NEAREST_ZERO 2
#define MF_TOWARD_ZERO 3
#define MF_TOWARD_POSITIVE 4
#define MF_TOWARD_NEGATIVE 5
#define MF_ROUND_ODD 6
#define MF_STOCHASTIC_A 7
#define MF_STOCHASTIC_B 8
#define MF_STOCHASTIC_C 9
#define MF_STOCHASTIC_EQUAL 10

/* Saturation (docs/semantics.md §3) */
#define MF_SAT_NONE 0
#define MF_SAT_FINITE 1
#define MF_SAT_PROPAGATE 2
#define MF_SAT_NAN 3 /* the result format must have a NaN */

/* Operations on codes: add, sub, mul, div: a op b; fma: a * b + c rounded once; sqrt: a. */
#define MF_OP_ADD 0
#define MF_OP_SUB 1
#define MF_OP_MUL 2
#define MF_OP_DIV 3
#define MF_OP_FMA 4
#define MF_OP_SQRT 5

/* Exception flags (docs/hardware.md §3) */
#define MF_FLAG_NV 0x01u /* invalid: exact result NaN, no operand NaN */
#define MF_FLAG_DZ 0x02u /* divide by zero: finite non-zero / signed zero */
#define MF_FLAG_OF 0x04u /* out of range: the saturation step acted */
#define MF_FLAG_UF 0x08u /* underflow: NX and 0 < |x| < smallest normal (before rounding) */
#define MF_FLAG_NX 0x10u /* inexact: the result's value is not the exact result */
#define MF_FLAGS_COMPUTED 0x1Fu

/* Error codes */
#define MF_OK 0
#define MF_ERR_NULL 1         /* a required pointer argument is NULL */
#define MF_ERR_FORMAT 2       /* the format struct describes no valid format (mf_check_format) */
#define MF_ERR_ROUNDING 3     /* unknown rounding mode */
#define MF_ERR_SATURATION 4   /* unknown saturation, or MF_SAT_NAN for a format without NaN */
#define MF_ERR_RANDOM_BITS 5  /* stochastic mode with random_bits outside 1..32 */
#define MF_ERR_RANDOM_VALUE 6 /* R >= 2^random_bits */
#define MF_ERR_OP 7           /* unknown operation */
#define MF_ERR_CODE 8         /* an operand code >= 2^bits of its format */
#define MF_ERR_NO_CODE 9      /* the result is NaN and the result format has no NaN code */

/* MF_C_ABI_VERSION of the library actually loaded. */
MF_C_API int mf_abi_version(void);

/* Static English description of an error code ("unknown error code" for others). */
MF_C_API const char* mf_error_string(int err);

/* MF_OK when *f is a valid format, else MF_ERR_FORMAT (MF_ERR_NULL for f == NULL) and, when
 * msg != NULL and msg_size > 0, a NUL-terminated message (truncated to msg_size) naming the
 * offending field and what is allowed: the rules of FloatFormat in minifloat/formats/float.py
 * (widths, total bits 2..16, NaN layouts, negative zero, a non-zero finite value, every finite
 * value exactly representable in float64). */
MF_C_API int mf_check_format(const mf_format* f, char* msg, size_t msg_size);

/* Number of bits of a code of *f (2..16), or -1 when *f is invalid. */
MF_C_API int mf_format_bits(const mf_format* f);

/* Project the double x into *f: *code = its code, *flags (may be NULL) = the exception flags of
 * this projection (x is the exact input; a NaN input sets no NV). */
MF_C_API int mf_encode(const mf_format* f, double x, int rounding, int saturation,
                       int random_bits, uint32_t R, uint32_t* code, uint32_t* flags);

/* The exact value of a code (every finite value of a valid format is a double); NaN codes give
 * a NaN with the code's sign bit. */
MF_C_API int mf_decode(const mf_format* f, uint32_t code, double* value);

/* One operation on codes of format *in (every operand), rounded once into *out (may equal in):
 * *result = its code, *flags (may be NULL) = its exception flags.  b and c are ignored by
 * operations that do not read them. */
MF_C_API int mf_op(int op, const mf_format* in, const mf_format* out, uint32_t a, uint32_t b,
                   uint32_t c, int rounding, int saturation, int random_bits, uint32_t R,
                   uint32_t* result, uint32_t* flags);

/* Elementwise over n elements: result[i] = op(a[i], b[i], c[i]) as mf_op.  b, c may be NULL when
 * op does not read them; R may be NULL for deterministic modes (required for stochastic ones);
 * flags may be NULL.  On an error nothing is guaranteed about the outputs, and *bad_index
 * (may be NULL) receives the first element that failed (n when the arguments failed). */
MF_C_API int mf_op_array(int op, const mf_format* in, const mf_format* out, size_t n,
                         const uint16_t* a, const uint16_t* b, const uint16_t* c,
                         int rounding, int saturation, int random_bits, const uint32_t* R,
                         uint16_t* result, uint8_t* flags, size_t* bad_index);

/* Elementwise mf_encode over n doubles (same conventions as mf_op_array). */
MF_C_API int mf_encode_array(const mf_format* f, size_t n, const double* x, int rounding,
                             int saturation, int random_bits, const uint32_t* R,
                             uint16_t* code, uint8_t* flags, size_t* bad_index);

#ifdef __cplusplus
}
#endif

#endif /* MINIFLOAT_C_H */
