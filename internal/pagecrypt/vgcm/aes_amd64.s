//go:build gofastr_vgcm && amd64 && !purego

// AES-256 kernels: key expansion, single-block encryption and the AVX-512
// VAES CTR keystream XOR used by GCM. All code is constant-time: only the
// (public) length drives branches.

#include "textflag.h"
#include "gcm_amd64.h"

// ---------------------------------------------------------------------------
// Key expansion (FIPS 197 section 5.2) with AESKEYGENASSIST.
//
// X0 = previous even round key, X2 = previous odd round key, X1/X3 scratch.
// ---------------------------------------------------------------------------

// PREFIX_XOR(R, T): R = {r0, r0^r1, r0^r1^r2, r0^r1^r2^r3} (dword prefix XOR),
// the w[i] = w[i-1] ^ w[i-Nk] chain of the key schedule.
#define PREFIX_XOR(R, T) \
	MOVOU  R, T;   \
	PSLLDQ $4, T;  \
	PXOR   T, R;   \
	PSLLDQ $4, T;  \
	PXOR   T, R;   \
	PSLLDQ $4, T;  \
	PXOR   T, R

// EXPAND_EVEN(rcon, off): next even round key
// X0 = prefix_xor(X0) ^ broadcast(RotWord(SubWord(X2[3])) ^ rcon).
#define EXPAND_EVEN(rcon, off) \
	AESKEYGENASSIST $rcon, X2, X1; \
	PSHUFD          $0xff, X1, X1; \
	PREFIX_XOR(X0, X3);            \
	PXOR            X1, X0;        \
	MOVOU           X0, off(BX)

// EXPAND_ODD(off): next odd round key
// X2 = prefix_xor(X2) ^ broadcast(SubWord(X0[3])).
#define EXPAND_ODD(off) \
	AESKEYGENASSIST $0x00, X0, X1; \
	PSHUFD          $0xaa, X1, X1; \
	PREFIX_XOR(X2, X3);            \
	PXOR            X1, X2;        \
	MOVOU           X2, off(BX)

// func expandKeyAsm(key *[32]byte, rk *[240]byte)
TEXT ·expandKeyAsm(SB), NOSPLIT, $0-16
	MOVQ  key+0(FP), AX
	MOVQ  rk+8(FP), BX
	MOVOU (AX), X0      // round key 0 = key[0:16]
	MOVOU 16(AX), X2    // round key 1 = key[16:32]
	MOVOU X0, 0(BX)
	MOVOU X2, 16(BX)
	EXPAND_EVEN(0x01, 32)
	EXPAND_ODD(48)
	EXPAND_EVEN(0x02, 64)
	EXPAND_ODD(80)
	EXPAND_EVEN(0x04, 96)
	EXPAND_ODD(112)
	EXPAND_EVEN(0x08, 128)
	EXPAND_ODD(144)
	EXPAND_EVEN(0x10, 160)
	EXPAND_ODD(176)
	EXPAND_EVEN(0x20, 192)
	EXPAND_ODD(208)
	EXPAND_EVEN(0x40, 224)
	// Do not leave key material in registers.
	PXOR X0, X0
	PXOR X1, X1
	PXOR X2, X2
	PXOR X3, X3
	RET

// ---------------------------------------------------------------------------
// Single block: dst = AES-256(src). Used for E_K(J0).
// ---------------------------------------------------------------------------

// func encryptBlockAsm(rk *[240]byte, dst, src *[16]byte)
TEXT ·encryptBlockAsm(SB), NOSPLIT, $0-24
	MOVQ        rk+0(FP), AX
	MOVQ        dst+8(FP), DX
	MOVQ        src+16(FP), CX
	VMOVDQU     (CX), X0
	AES256_X(AX, X0)
	VMOVDQU     X0, (DX)
	VPXOR       X0, X0, X0
	RET

// ---------------------------------------------------------------------------
// CTR mode with 32-bit big-endian counter (GCM's inc32), 4 blocks per ZMM.
//
// The counter is kept byte-reflected (CTR lanes) so that the big-endian
// 32-bit counter field becomes the little-endian dword 0 of each 128-bit
// lane; VPADDD then implements inc32 exactly (wraps mod 2^32 without
// touching the nonce). VPSHUFB with BSWAP turns it back into AES input.
// ---------------------------------------------------------------------------

// AES states A0..A3 and data/last-round-key registers D0..D3.
#define A0 Z0
#define A1 Z1
#define A2 Z2
#define A3 Z3
#define D0 Z8
#define D1 Z9
#define D2 Z10
#define D3 Z11
#define CTR Z15     // byte-reflected counters {c, c+1, c+2, c+3}

// func ctrAsm(rk *[240]byte, ctr *[16]byte, dst, src []byte)
TEXT ·ctrAsm(SB), NOSPLIT, $0-64
	MOVQ rk+0(FP), AX
	MOVQ ctr+8(FP), BX
	MOVQ dst_base+16(FP), DI
	MOVQ src_base+40(FP), SI
	MOVQ src_len+48(FP), CX
	TESTQ CX, CX
	JZ    ctr_ret

	LOAD_ROUND_KEYS(AX)

	// CTR = reflect(ctr) in every lane, plus {0, 1, 2, 3}.
	VMOVDQU64       bswapMask<>(SB), BSWAP
	VBROADCASTI32X4 (BX), CTR
	VPSHUFB         BSWAP, CTR, CTR
	VPADDD          ctrOffsets0<>(SB), CTR, CTR

	CMPQ CX, $256
	JB   ctr_vec

ctr_loop16:
	// 16 blocks: four independent vectors keep the VAES pipeline busy.
	NEXT_CTR(A0)
	NEXT_CTR(A1)
	NEXT_CTR(A2)
	NEXT_CTR(A3)
	ROUND4(RK1, A0, A1, A2, A3)
	ROUND4(RK2, A0, A1, A2, A3)
	ROUND4(RK3, A0, A1, A2, A3)
	ROUND4(RK4, A0, A1, A2, A3)
	ROUND4(RK5, A0, A1, A2, A3)
	ROUND4(RK6, A0, A1, A2, A3)
	ROUND4(RK7, A0, A1, A2, A3)
	ROUND4(RK8, A0, A1, A2, A3)
	ROUND4(RK9, A0, A1, A2, A3)
	ROUND4(RK10, A0, A1, A2, A3)
	ROUND4(RK11, A0, A1, A2, A3)
	ROUND4(RK12, A0, A1, A2, A3)
	ROUND4(RK13, A0, A1, A2, A3)
	// Last round with rk14 ^ data folded in: AESENCLAST(s, rk14^p) =
	// AES(counter) ^ p.
	VPXORD      0(SI), RK14, D0
	VPXORD      64(SI), RK14, D1
	VPXORD      128(SI), RK14, D2
	VPXORD      192(SI), RK14, D3
	VAESENCLAST D0, A0, A0
	VAESENCLAST D1, A1, A1
	VAESENCLAST D2, A2, A2
	VAESENCLAST D3, A3, A3
	VMOVDQU64   A0, 0(DI)
	VMOVDQU64   A1, 64(DI)
	VMOVDQU64   A2, 128(DI)
	VMOVDQU64   A3, 192(DI)
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $256, CX
	CMPQ        CX, $256
	JAE         ctr_loop16

ctr_vec:
	// Remaining whole 64-byte vectors (4 blocks each).
	CMPQ CX, $64
	JB   ctr_tail

ctr_loop4:
	NEXT_CTR(A0)
	ROUNDS_1_13_1(A0)
	VPXORD      (SI), RK14, D0
	VAESENCLAST D0, A0, A0
	VMOVDQU64   A0, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $64, CX
	CMPQ        CX, $64
	JAE         ctr_loop4

ctr_tail:
	// Final 1..63 bytes: byte-masked load and store (masked-off bytes are
	// neither read nor written, so no access past the buffers).
	TESTQ CX, CX
	JZ    ctr_done
	MOVQ  $1, DX
	SHLQ  CX, DX
	DECQ  DX                 // DX = (1 << CX) - 1
	KMOVQ DX, K1
	NEXT_CTR(A0)
	ROUNDS_1_13_1(A0)
	VMOVDQU8.Z  (SI), K1, D0
	VPXORD      D0, RK14, D0
	VAESENCLAST D0, A0, A0
	VMOVDQU8    A0, K1, (DI)

ctr_done:
	CLEAR_VECTORS
ctr_ret:
	RET
