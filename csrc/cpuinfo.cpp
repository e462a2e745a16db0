// minifloat._cpuinfo: which ISA levels of the extension this CPU (and its OS) can run.
// Compiled without any -march flag, so that it loads on every CPU of the architecture; it
// holds no algorithm.  minifloat/_core.py reads it to pick minifloat._core_<level>.
//
// x86-64: a level needs its instructions (CPUID) and the OS's support of the register state
// (XGETBV: XCR0 says which state the OS saves on a context switch; without it the first ymm /
// zmm instruction faults even where CPUID lists AVX2 / AVX-512).
//   avx2   = x86-64-v3: AVX, AVX2, FMA, BMI1, BMI2, F16C, LZCNT, MOVBE; XCR0 has SSE+AVX state.
//   avx512 = x86-64-v4: v3 + AVX512F, BW, CD, DQ, VL; XCR0 also has opmask+ZMM state.
// aarch64: ASIMD is part of the baseline; the hwcaps are reported for information.
#include <pybind11/pybind11.h>

#include <string>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define MF_CPUINFO_X86 1
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#define MF_CPUINFO_ARM64 1
#endif

#ifndef MF_LEVELS
#define MF_LEVELS ""
#endif
#ifndef MF_COMPILER
#define MF_COMPILER "unknown"
#endif
#ifndef MF_COMMON_FLAGS
#define MF_COMMON_FLAGS ""
#endif
#ifndef MF_BUILD_TYPE
#define MF_BUILD_TYPE ""
#endif
#ifndef MF_SYSTEM_PROCESSOR
#define MF_SYSTEM_PROCESSOR ""
#endif

namespace py = pybind11;

namespace {

#if MF_CPUINFO_X86
struct Regs { unsigned a = 0, b = 0, c = 0, d = 0; };

Regs cpuid(unsigned leaf, unsigned sub) {
  Regs r;
  if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) r = Regs{};
  return r;
}

unsigned long long xgetbv0() {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

bool bit(unsigned v, int i) { return (v >> i) & 1u; }

py::dict features() {
  py::dict f;
  const Regs l1 = cpuid(1, 0), l7 = cpuid(7, 0), e1 = cpuid(0x80000001u, 0);
  const bool osxsave = bit(l1.c, 27);
  const unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  f["sse4_2"] = bit(l1.c, 20);
  f["popcnt"] = bit(l1.c, 23);
  f["avx"] = bit(l1.c, 28);
  f["fma"] = bit(l1.c, 12);
  f["f16c"] = bit(l1.c, 29);
  f["movbe"] = bit(l1.c, 22);
  f["osxsave"] = osxsave;
  f["bmi1"] = bit(l7.b, 3);
  f["avx2"] = bit(l7.b, 5);
  f["bmi2"] = bit(l7.b, 8);
  f["lzcnt"] = bit(e1.c, 5);
  f["avx512f"] = bit(l7.b, 16);
  f["avx512dq"] = bit(l7.b, 17);
  f["avx512cd"] = bit(l7.b, 28);
  f["avx512bw"] = bit(l7.b, 30);
  f["avx512vl"] = bit(l7.b, 31);
  f["os_ymm"] = (xcr0 & 0x6u) == 0x6u;    // XMM and YMM state
  f["os_zmm"] = (xcr0 & 0xE6u) == 0xE6u;  // + opmask, ZMM_Hi256, Hi16_ZMM state
  return f;
}

py::list supported(const py::dict& f) {
  auto has = [&](const char* k) { return f[k].cast<bool>(); };
  py::list levels;
  levels.append("baseline");
  const bool v3 = has("avx") && has("avx2") && has("fma") && has("bmi1") && has("bmi2") &&
                  has("f16c") && has("lzcnt") && has("movbe") && has("os_ymm");
  if (!v3) return levels;
  levels.append("avx2");
  if (has("avx512f") && has("avx512bw") && has("avx512cd") && has("avx512dq") &&
      has("avx512vl") && has("os_zmm"))
    levels.append("avx512");
  return levels;
}
#elif MF_CPUINFO_ARM64
py::dict features() {
  py::dict f;
  const unsigned long hw = getauxval(AT_HWCAP);
  f["asimd"] = bool(hw & (1ul << 1));  // HWCAP_ASIMD
  f["sve"] = bool(hw & (1ul << 22));   // HWCAP_SVE
  return f;
}
py::list supported(const py::dict&) {
  py::list levels;
  levels.append("baseline");
  return levels;
}
#else
py::dict features() { return py::dict(); }
py::list supported(const py::dict&) {
  py::list levels;
  levels.append("baseline");
  return levels;
}
#endif

}  // namespace

PYBIND11_MODULE(_cpuinfo, m) {
  m.doc() = "CPU features and the ISA levels of minifloat's extension this machine can run";
  m.def("features", &features, "CPUID / XGETBV (x86-64) or hwcap (aarch64) feature flags");
  m.def("supported_levels", [] { return supported(features()); },
        "ISA levels this CPU and OS can run, lowest first (always starts with 'baseline')");
  m.attr("COMPILED_LEVELS") = std::string(MF_LEVELS);
  m.attr("COMPILER") = MF_COMPILER;
  m.attr("COMMON_FLAGS") = MF_COMMON_FLAGS;
  m.attr("BUILD_TYPE") = MF_BUILD_TYPE;
  m.attr("SYSTEM_PROCESSOR") = MF_SYSTEM_PROCESSOR;
}
