// Golden-vector check of the header core on another architecture (docs/build.md, "aarch64").
//
// tests/cross/make_golden.py writes, from the x86-64 build through the Python package, a file
// of sections: encode of float64 / float32 inputs (every probe of the 8-bit presets, every
// rounding mode and saturation, seeded stochastic rounding) and every operand pair of E4M3
// add / mul.  This driver includes the headers directly (no pybind11, no Python), recomputes
// every code -- float32 input both through the generic path and through the float32 fast path
// of project_f32.h where that applies, stochastic bits from the header's own Philox -- and
// counts the codes that differ.  tests/test_cross_aarch64.py cross-compiles it with
// aarch64-linux-gnu-g++ and runs it under qemu-aarch64.
//
// File layout (little-endian): sections of a header of kHeader int64 fields (see Field) then
// the payload: inputs (uint64 float64 bits, uint32 float32 bits, or three uint16 operand
// codes), the explicit random values (uint32, when rsrc == 2) and the expected codes (uint16).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "minifloat/arith.h"
#include "minifloat/decode.h"
#include "minifloat/project.h"
#include "minifloat/project_f32.h"
#include "minifloat/random.h"

namespace {

enum Kind : int64_t { ENCODE_F64 = 1, ENCODE_F32 = 2, ARITH = 3 };
enum Field {
  KIND = 0, SPEC_IN = 1, SPEC_OUT = 9, OP = 17, MODE = 18, SAT = 19, NBITS = 20, FLUSH = 21,
  RSRC = 22, SEED = 23, OFFSET = 24, COUNT = 25, kHeader = 26
};

mf::FloatSpec spec_at(const int64_t* h) {
  return mf::make_float_spec(int32_t(h[0]), int32_t(h[1]), int32_t(h[2]), int32_t(h[3]),
                             int32_t(h[4]), int32_t(h[5]), int32_t(h[6]), int32_t(h[7]));
}

template <class T> bool read(std::FILE* f, std::vector<T>& v, size_t n) {
  v.resize(n);
  return n == 0 || std::fread(v.data(), sizeof(T), n, f) == n;
}

// The float32 fast path with the mode fixed at compile time (as csrc/module.cpp's loops).
template <int32_t MODE>
uint32_t fast_f32(const mf::FloatSpec& f, const mf::Plan& p, const mf::F32Consts& c, int32_t n,
                  uint32_t u, uint32_t R) {
  return mf::project_f32<MODE, true>(f, p, c, n, u, R);
}

uint32_t fast_f32_mode(int32_t mode, const mf::FloatSpec& f, const mf::Plan& p,
                       const mf::F32Consts& c, int32_t n, uint32_t u, uint32_t R) {
  switch (mode) {
    case mf::NEAREST_EVEN: return fast_f32<mf::NEAREST_EVEN>(f, p, c, n, u, R);
    case mf::NEAREST_AWAY: return fast_f32<mf::NEAREST_AWAY>(f, p, c, n, u, R);
    case mf::NEAREST_ZERO: return fast_f32<mf::NEAREST_ZERO>(f, p, c, n, u, R);
    case mf::TOWARD_ZERO: return fast_f32<mf::TOWARD_ZERO>(f, p, c, n, u, R);
    case mf::TOWARD_POSITIVE: return fast_f32<mf::TOWARD_POSITIVE>(f, p, c, n, u, R);
    case mf::TOWARD_NEGATIVE: return fast_f32<mf::TOWARD_NEGATIVE>(f, p, c, n, u, R);
    case mf::ROUND_ODD: return fast_f32<mf::ROUND_ODD>(f, p, c, n, u, R);
    case mf::STOCHASTIC_A: return fast_f32<mf::STOCHASTIC_A>(f, p, c, n, u, R);
    case mf::STOCHASTIC_B: return fast_f32<mf::STOCHASTIC_B>(f, p, c, n, u, R);
    case mf::STOCHASTIC_C: return fast_f32<mf::STOCHASTIC_C>(f, p, c, n, u, R);
    case mf::STOCHASTIC_EQUAL: return fast_f32<mf::STOCHASTIC_EQUAL>(f, p, c, n, u, R);
    default: return 0xFFFFFFFFu;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s GOLDEN_FILE\n", argv[0]);
    return 2;
  }
  std::FILE* f = std::fopen(argv[1], "rb");
  if (f == nullptr) {
    std::fprintf(stderr, "cannot open %s\n", argv[1]);
    return 2;
  }
  int64_t h[kHeader];
  uint64_t sections = 0, checked = 0, bad = 0, fast_checked = 0;
  int reported = 0;
  while (std::fread(h, sizeof(int64_t), kHeader, f) == size_t(kHeader)) {
    ++sections;
    const size_t count = size_t(h[COUNT]);
    const int32_t mode = int32_t(h[MODE]), n = int32_t(h[NBITS]);
    const mf::FloatSpec fi = spec_at(h + SPEC_IN), fo = spec_at(h + SPEC_OUT);
    const mf::Plan plan = mf::make_plan(fo, mode, int32_t(h[SAT]), int32_t(h[FLUSH]));
    std::vector<uint64_t> x64;
    std::vector<uint32_t> x32, Rs;
    std::vector<uint16_t> a, b, c, expected;
    bool ok = true;
    if (h[KIND] == ENCODE_F64) ok = read(f, x64, count);
    else if (h[KIND] == ENCODE_F32) ok = read(f, x32, count);
    else if (h[KIND] == ARITH) ok = read(f, a, count) && read(f, b, count) && read(f, c, count);
    else ok = false;
    if (ok && h[RSRC] == 2) ok = read(f, Rs, count);
    if (ok) ok = read(f, expected, count);
    if (!ok) {
      std::fprintf(stderr, "section %llu: truncated or unknown kind %lld\n",
                   static_cast<unsigned long long>(sections), static_cast<long long>(h[KIND]));
      return 2;
    }
    const bool fast = h[KIND] == ENCODE_F32 && mf::f32_path_ok(fo, mode, n);
    const mf::F32Consts consts = mf::make_f32_consts(fo);
    const bool b_uzero = mf::zero_is_unsigned(fi);
    for (size_t i = 0; i < count; ++i) {
      uint32_t R = 0;
      if (h[RSRC] == 1)
        R = mf::top_bits(mf::philox_word(uint64_t(h[SEED]), uint64_t(h[OFFSET]) + i), n);
      else if (h[RSRC] == 2)
        R = Rs[i];
      uint32_t got = 0, got_fast = 0;
      if (h[KIND] == ENCODE_F64) {
        double v;
        std::memcpy(&v, &x64[i], sizeof v);
        got = mf::project<uint64_t>(fo, plan, mode, n, mf::parts_of(v), R);
      } else if (h[KIND] == ENCODE_F32) {
        float v;
        std::memcpy(&v, &x32[i], sizeof v);
        got = mf::project<uint64_t>(fo, plan, mode, n, mf::parts_of_float<uint64_t, false>(v),
                                    R);
        if (fast) {
          got_fast = fast_f32_mode(mode, fo, plan, consts, n, x32[i], R);
          ++fast_checked;
        }
      } else {
        const int op = int(h[OP]);
        const int arity = mf::op_arity(op);
        const mf::Exact none = mf::make_exact(mf::IN_ZERO, 0, 0, 0);
        const mf::Exact xa = mf::exact_of_code(fi, a[i]);
        const mf::Exact xb = arity >= 2 ? mf::exact_of_code(fi, b[i]) : none;
        const mf::Exact xc = arity >= 3 ? mf::exact_of_code(fi, c[i]) : none;
        got = mf::project<uint64_t>(fo, plan, mode, n,
                                    mf::exact_op(op, xa, xb, xc, mode, b_uzero), R);
      }
      ++checked;
      const bool differs = got != expected[i] || (fast && got_fast != expected[i]);
      if (differs) {
        ++bad;
        if (reported++ < 20)
          std::printf("MISMATCH section %llu kind %lld mode %d sat %lld n %d index %zu: "
                      "expected %#x got %#x%s\n",
                      static_cast<unsigned long long>(sections), static_cast<long long>(h[KIND]),
                      int(mode), static_cast<long long>(h[SAT]), int(n), i,
                      unsigned(expected[i]), unsigned(fast && got == expected[i] ? got_fast : got),
                      fast && got == expected[i] ? " (float32 fast path)" : "");
      }
    }
  }
  std::fclose(f);
  std::printf("sections %llu checked %llu (float32 fast path %llu) mismatches %llu\n",
              static_cast<unsigned long long>(sections), static_cast<unsigned long long>(checked),
              static_cast<unsigned long long>(fast_checked), static_cast<unsigned long long>(bad));
  return bad == 0 && sections > 0 ? 0 : 1;
}
