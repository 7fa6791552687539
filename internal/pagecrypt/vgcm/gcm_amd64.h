// Shared constants, register names and macros for aes_amd64.s and
// gcm_amd64.s. All macros are straight-line code: constant-time, no
// data-dependent branches or addresses.

// ---------------------------------------------------------------------------
// Constants (file-local copies in each including file).
// ---------------------------------------------------------------------------

// Byte-reversal permutation for each 128-bit lane (VPSHUFB).
DATA bswapMask<>+0x00(SB)/8, $0x08090a0b0c0d0e0f
DATA bswapMask<>+0x08(SB)/8, $0x0001020304050607
DATA bswapMask<>+0x10(SB)/8, $0x08090a0b0c0d0e0f
DATA bswapMask<>+0x18(SB)/8, $0x0001020304050607
DATA bswapMask<>+0x20(SB)/8, $0x08090a0b0c0d0e0f
DATA bswapMask<>+0x28(SB)/8, $0x0001020304050607
DATA bswapMask<>+0x30(SB)/8, $0x08090a0b0c0d0e0f
DATA bswapMask<>+0x38(SB)/8, $0x0001020304050607
GLOBL bswapMask<>(SB), RODATA|NOPTR, $64

// Per-lane counter offsets {0, 1, 2, 3} and {1, 2, 3, 4} (dword 0 of each
// lane of a byte-reflected counter block).
DATA ctrOffsets0<>+0x00(SB)/8, $0
DATA ctrOffsets0<>+0x08(SB)/8, $0
DATA ctrOffsets0<>+0x10(SB)/8, $1
DATA ctrOffsets0<>+0x18(SB)/8, $0
DATA ctrOffsets0<>+0x20(SB)/8, $2
DATA ctrOffsets0<>+0x28(SB)/8, $0
DATA ctrOffsets0<>+0x30(SB)/8, $3
DATA ctrOffsets0<>+0x38(SB)/8, $0
GLOBL ctrOffsets0<>(SB), RODATA|NOPTR, $64

DATA ctrOffsets1<>+0x00(SB)/8, $1
DATA ctrOffsets1<>+0x08(SB)/8, $0
DATA ctrOffsets1<>+0x10(SB)/8, $2
DATA ctrOffsets1<>+0x18(SB)/8, $0
DATA ctrOffsets1<>+0x20(SB)/8, $3
DATA ctrOffsets1<>+0x28(SB)/8, $0
DATA ctrOffsets1<>+0x30(SB)/8, $4
DATA ctrOffsets1<>+0x38(SB)/8, $0
GLOBL ctrOffsets1<>(SB), RODATA|NOPTR, $64

// Counter step of one ZMM (4 blocks): 4 in dword 0 of every lane.
DATA ctrInc4<>+0x00(SB)/8, $4
DATA ctrInc4<>+0x08(SB)/8, $0
DATA ctrInc4<>+0x10(SB)/8, $4
DATA ctrInc4<>+0x18(SB)/8, $0
DATA ctrInc4<>+0x20(SB)/8, $4
DATA ctrInc4<>+0x28(SB)/8, $0
DATA ctrInc4<>+0x30(SB)/8, $4
DATA ctrInc4<>+0x38(SB)/8, $0
GLOBL ctrInc4<>(SB), RODATA|NOPTR, $64

// y^57 + y^62 + y^63 (= 0xc2 << 56) in both qwords of every lane, so that
// VPCLMULQDQ imm8 0x00 picks it whatever the operand order.
DATA gfpoly<>+0x00(SB)/8, $0xc200000000000000
DATA gfpoly<>+0x08(SB)/8, $0xc200000000000000
DATA gfpoly<>+0x10(SB)/8, $0xc200000000000000
DATA gfpoly<>+0x18(SB)/8, $0xc200000000000000
DATA gfpoly<>+0x20(SB)/8, $0xc200000000000000
DATA gfpoly<>+0x28(SB)/8, $0xc200000000000000
DATA gfpoly<>+0x30(SB)/8, $0xc200000000000000
DATA gfpoly<>+0x38(SB)/8, $0xc200000000000000
GLOBL gfpoly<>(SB), RODATA|NOPTR, $64

// Masked into 2*H when computing H*x^-1: bit 0 and 0xc2<<120 (reduction of
// the bit shifted out of bit 127) and bit 64 (carry between the halves).
DATA gfpolyCarry<>+0x00(SB)/8, $0x0000000000000001
DATA gfpolyCarry<>+0x08(SB)/8, $0xc200000000000001
GLOBL gfpolyCarry<>(SB), RODATA|NOPTR, $16

#define GFPOLY gfpoly<>(SB)
#define INC4 ctrInc4<>(SB)

// ---------------------------------------------------------------------------
// AES-256. Round keys are broadcast to all four lanes of Z16..Z30.
// ---------------------------------------------------------------------------

#define RK0 Z16
#define RK1 Z17
#define RK2 Z18
#define RK3 Z19
#define RK4 Z20
#define RK5 Z21
#define RK6 Z22
#define RK7 Z23
#define RK8 Z24
#define RK9 Z25
#define RK10 Z26
#define RK11 Z27
#define RK12 Z28
#define RK13 Z29
#define RK14 Z30
#define BSWAP Z31     // byte-reverse each 128-bit lane
#define BSWAPX X31

// LOAD_ROUND_KEYS(rk): broadcast the 15 round keys at rk into RK0..RK14.
#define LOAD_ROUND_KEYS(rk) \
	VBROADCASTI32X4 0(rk), RK0;    \
	VBROADCASTI32X4 16(rk), RK1;   \
	VBROADCASTI32X4 32(rk), RK2;   \
	VBROADCASTI32X4 48(rk), RK3;   \
	VBROADCASTI32X4 64(rk), RK4;   \
	VBROADCASTI32X4 80(rk), RK5;   \
	VBROADCASTI32X4 96(rk), RK6;   \
	VBROADCASTI32X4 112(rk), RK7;  \
	VBROADCASTI32X4 128(rk), RK8;  \
	VBROADCASTI32X4 144(rk), RK9;  \
	VBROADCASTI32X4 160(rk), RK10; \
	VBROADCASTI32X4 176(rk), RK11; \
	VBROADCASTI32X4 192(rk), RK12; \
	VBROADCASTI32X4 208(rk), RK13; \
	VBROADCASTI32X4 224(rk), RK14

// NEXT_CTR(A): A = next 4 counter blocks with round 0 (AddRoundKey rk0)
// applied; advance CTR by 4. CTR holds byte-reflected counters, so the
// big-endian 32-bit counter field is the little-endian dword 0 of each lane
// and VPADDD implements GCM's inc32 exactly (wraps mod 2^32 without
// touching the nonce); VPSHUFB turns it back into AES input.
#define NEXT_CTR(A) \
	VPSHUFB BSWAP, CTR, A;  \
	VPADDD  INC4, CTR, CTR; \
	VPXORD  RK0, A, A

// ROUND4(K, a, b, c, d): one AES round on four vectors (16 blocks).
#define ROUND4(K, a, b, c, d) \
	VAESENC K, a, a; \
	VAESENC K, b, b; \
	VAESENC K, c, c; \
	VAESENC K, d, d

// ROUNDS_1_13_1(a): AES rounds 1..13 on one vector.
#define ROUNDS_1_13_1(a) \
	VAESENC RK1, a, a;  \
	VAESENC RK2, a, a;  \
	VAESENC RK3, a, a;  \
	VAESENC RK4, a, a;  \
	VAESENC RK5, a, a;  \
	VAESENC RK6, a, a;  \
	VAESENC RK7, a, a;  \
	VAESENC RK8, a, a;  \
	VAESENC RK9, a, a;  \
	VAESENC RK10, a, a; \
	VAESENC RK11, a, a; \
	VAESENC RK12, a, a; \
	VAESENC RK13, a, a

// AES256_X(rk, X): X = AES-256 encryption of X (XMM, round keys at rk).
#define AES256_X(rk, X) \
	VPXOR       0(rk), X, X;   \
	VAESENC     16(rk), X, X;  \
	VAESENC     32(rk), X, X;  \
	VAESENC     48(rk), X, X;  \
	VAESENC     64(rk), X, X;  \
	VAESENC     80(rk), X, X;  \
	VAESENC     96(rk), X, X;  \
	VAESENC     112(rk), X, X; \
	VAESENC     128(rk), X, X; \
	VAESENC     144(rk), X, X; \
	VAESENC     160(rk), X, X; \
	VAESENC     176(rk), X, X; \
	VAESENC     192(rk), X, X; \
	VAESENC     208(rk), X, X; \
	VAESENCLAST 224(rk), X, X

// ---------------------------------------------------------------------------
// Register hygiene on return.
// ---------------------------------------------------------------------------

// CLEAR_VECTORS: zero every vector register a kernel may have left
// key-derived state in (round keys, counters, GHASH key powers, data).
// VZEROUPPER would only clear bits 128 and up of ZMM0-15: it leaves their
// low 128 bits and all of ZMM16-31. EVEX VPXORD clears the whole of each of
// ZMM16-31 (the Go ABI does not preserve them, so nothing is lost), then
// VZEROALL clears ZMM0-15 entirely and, like VZEROUPPER, avoids SSE/AVX
// transition penalties in the caller. Go's ABI wrappers expect nothing of
// vector registers after an ABI0 call (X15 is re-zeroed by them anyway).
#define CLEAR_VECTORS \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	VPXORD Z18, Z18, Z18; \
	VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; \
	VPXORD Z21, Z21, Z21; \
	VPXORD Z22, Z22, Z22; \
	VPXORD Z23, Z23, Z23; \
	VPXORD Z24, Z24, Z24; \
	VPXORD Z25, Z25, Z25; \
	VPXORD Z26, Z26, Z26; \
	VPXORD Z27, Z27, Z27; \
	VPXORD Z28, Z28, Z28; \
	VPXORD Z29, Z29, Z29; \
	VPXORD Z30, Z30, Z30; \
	VPXORD Z31, Z31, Z31; \
	VZEROALL
