//go:build gofastr_vgcm && amd64 && !purego

// GHASH (NIST SP 800-38D section 6.4) with VPCLMULQDQ, the GCM tag, and
// the fused (stitched) CTR-encrypt + GHASH kernel used by Seal.
//
// Representation. A 16-byte GCM block is byte-reflected (VPSHUFB BSWAP) into
// a 128-bit register. Because GCM numbers polynomial coefficients from the
// most significant bit of byte 0, register bit i then holds the coefficient
// of x^(127-i): the register is the fully bit-reflected field element. With
// y standing for a one-bit register shift, this is y = x^-1, and the field
// polynomial g(x) = x^128 + x^7 + x^2 + x + 1 becomes
// g'(y) = y^128 + y^127 + y^126 + y^121 + 1 (same ideal).
//
// Multiplication. The 256-bit carry-less product of two registers is
// LO + MI*y^64 + HI*y^128 (schoolbook: LO = aL*bL, MI = aL*bH + aH*bL,
// HI = aH*bH). It is reduced Montgomery-style, dividing by y^128 mod g' in
// two 64-bit folds: since g' = 1 mod y^64, adding LO_L*g' clears the low 64
// bits; what remains after shifting down 64 is
//   MI' = MI ^ swap64(LO) ^ LO_L*(y^57 + y^62 + y^63)
// and a second identical fold of MI' into HI gives the 128-bit result
//   HI ^ swap64(MI') ^ MI'_L*(y^57 + y^62 + y^63).
// (y^57+y^62+y^63 = 0xc2 << 56; swap64 exchanges the 64-bit halves.)
// In field terms the whole operation computes x*A*B (the reflected product
// carries an extra factor x, and the division by y^128 is the identity modulo
// reflection bookkeeping). To compensate, the key H is stored pre-multiplied
// by x^-1 ("shifted H"): mul(A, H*x^-1) = A*H, and powers are built as
// mul(H^(k-1)*x^-1, H*x^-1) = H^k * x^-1.
//
// Aggregation. n blocks X1..Xn (n = 32 in the main loop, 16 in Seal's
// stitched loop, fewer in tails) are absorbed as
//   acc' = (acc ^ X1)*H^n ^ X2*H^(n-1) ^ ... ^ Xn*H^1
// by summing the unreduced 256-bit products of ZMM vectors (4 blocks each)
// and reducing once; the four lanes are then XORed together.
//
// All code is constant-time: only the public length drives branches.

#include "textflag.h"
#include "gcm_amd64.h"

// htab layout (htabSize = 1152 bytes):
//   [   0,  512)  H^32, H^31, ..., H^1 (each byte-reflected and times x^-1)
//   [ 512,  576)  zeros
//   [ 576, 1088)  Karatsuba key sums: for each power above, hL^hH in both
//                 64-bit halves, same order
//   [1088, 1152)  zeros
// H^k is at (32-k)*16. A run of m blocks uses the m powers ending at H^1,
// so 64-byte loads past the end read zeros for lanes past the data.
#define HK_OFF 576

// GHASH registers (Z11..Z31 are left to the AES code in sealAsm).
#define ACC Z0        // accumulator, lane 0 only (reflected form)
#define ACCX X0
#define DA Z1         // data vectors of a pair (become HI products)
#define DB Z2
#define KD Z3         // Karatsuba data sums of a pair (become MI products)
#define KDB Z4
#define LO Z5         // unreduced product sums
#define MI Z6
#define HI Z7
#define HIX X7
#define HIY Y7
#define T0 Z8         // temporaries
#define T1 Z9
#define T2 Z10
#define T0X X8
#define T0Y Y8
#define HTAB R9       // pointer to htab, preserved by ghashAbsorb<>

// Multiplication uses Karatsuba: with d = dL + dH*y^64, h likewise,
//   LO = dL*hL, HI = dH*hH, MI = (dL^dH)*(hL^hH) ^ LO ^ HI.
// The (hL^hH) factors are precomputed in htab; the final "^ LO ^ HI" is
// applied once to the sums (KFINISH). Per 16 blocks this is 12 VPCLMULQDQ.
// On Zen 4 a ZMM VPCLMULQDQ occupies its only pipe for 2 cycles and other
// vector ops also get scheduled there, so the code minimizes both: sums use
// three-way XORs and the data-side Karatsuba sums are formed two vectors at
// a time.

// PAIR_LOAD(base, a, b): DA, DB = byte-reflected data at a(base), b(base).
#define PAIR_LOAD(base, a, b) \
	VMOVDQU64 a(base), DA;  \
	VMOVDQU64 b(base), DB;  \
	VPSHUFB   BSWAP, DA, DA; \
	VPSHUFB   BSWAP, DB, DB

// PAIR_MUL(ha, hb): Karatsuba partial products of DA with the powers at
// ha(HTAB) and DB with hb(HTAB):
//   T0 = LO_A, T1 = LO_B, DA = HI_A, DB = HI_B, KD = MI_A, KDB = MI_B.
// The data sums: KD = {dA.lo, dB.lo} ^ {dA.hi, dB.hi} per lane, so qword 0
// is dA's sum and qword 1 is dB's (imm8 bit 0 selects it).
#define PAIR_MUL(ha, hb) \
	VPUNPCKLQDQ DB, DA, KD;             \
	VPUNPCKHQDQ DB, DA, KDB;            \
	VPXORD      KDB, KD, KD;            \
	VPCLMULQDQ  $0x00, ha(HTAB), DA, T0; \
	VPCLMULQDQ  $0x00, hb(HTAB), DB, T1; \
	VPCLMULQDQ  $0x11, ha(HTAB), DA, DA; \
	VPCLMULQDQ  $0x11, hb(HTAB), DB, DB; \
	VPCLMULQDQ  $0x01, HK_OFF+hb(HTAB), KD, KDB; \
	VPCLMULQDQ  $0x00, HK_OFF+ha(HTAB), KD, KD

// PAIR_SUM_FIRST / PAIR_SUM: start / continue the LO, MI, HI sums.
#define PAIR_SUM_FIRST \
	VPXORD T1, T0, LO;  \
	VPXORD DB, DA, HI;  \
	VPXORD KDB, KD, MI

#define PAIR_SUM \
	VPTERNLOGD $0x96, T1, T0, LO; \
	VPTERNLOGD $0x96, DB, DA, HI; \
	VPTERNLOGD $0x96, KDB, KD, MI

// KFINISH: MI = MI ^ LO ^ HI, turning the Karatsuba middle term into the
// schoolbook one.
#define KFINISH \
	VPTERNLOGD $0x96, HI, LO, MI

// REDUCE_1, REDUCE_2: HI = (LO + MI*y^64 + HI*y^128) / y^128 mod g', per
// lane, as two folds of 64 bits (see the file comment). Clobbers LO, MI, T0.
#define REDUCE_1 \
	VPCLMULQDQ $0x00, GFPOLY, LO, T0; \
	VPSHUFD    $0x4e, LO, LO;         \
	VPTERNLOGD $0x96, T0, LO, MI

#define REDUCE_2 \
	VPCLMULQDQ $0x00, GFPOLY, MI, T0; \
	VPSHUFD    $0x4e, MI, MI;         \
	VPTERNLOGD $0x96, T0, MI, HI

// FOLD_LANES: ACCX = HI lane0 ^ lane1 ^ lane2 ^ lane3 (the upper lanes of
// ACC become zero). Clobbers HI, T0.
#define FOLD_LANES \
	VEXTRACTI64X4 $1, HI, T0Y;   \
	VPXORD        T0Y, HIY, HIY; \
	VEXTRACTI32X4 $1, HIY, T0X;  \
	VPXORD        T0X, HIX, ACCX

// GFMUL_X(A, B, D): D = mul(A, B) on XMM registers, schoolbook
// (X8..X10 scratch). D may equal A or B.
#define GFMUL_X(A, B, D) \
	VPCLMULQDQ $0x00, B, A, X8;   \
	VPCLMULQDQ $0x01, B, A, X9;   \
	VPCLMULQDQ $0x10, B, A, X10;  \
	VPXORD     X10, X9, X9;       \
	VPCLMULQDQ $0x11, B, A, D;    \
	VPCLMULQDQ $0x00, GFPOLY, X8, X10; \
	VPSHUFD    $0x4e, X8, X8;     \
	VPTERNLOGD $0x96, X10, X8, X9; \
	VPCLMULQDQ $0x00, GFPOLY, X9, X10; \
	VPSHUFD    $0x4e, X9, X9;     \
	VPTERNLOGD $0x96, X10, X9, D

// LEN_BLOCK_AND_MUL(adlen, ctlen): absorb the final length block
// BE64(adlen*8) || BE64(ctlen*8) (byte-reflected: qword 0 = ctlen*8,
// qword 1 = adlen*8) into ACC. Clobbers the argument registers, X1, X2,
// X8..X10.
#define LEN_BLOCK_AND_MUL(adlen, ctlen) \
	SHLQ    $3, ctlen;            \
	SHLQ    $3, adlen;            \
	MOVQ    ctlen, X1;            \
	VPINSRQ $1, adlen, X1, X1;    \
	VPXORD  X1, ACCX, ACCX;       \
	VMOVDQU 496(HTAB), X2;        \
	GFMUL_X(ACCX, X2, ACCX)

// func initHtabAsm(rk *[240]byte, htab *[1152]byte)
TEXT ·initHtabAsm(SB), NOSPLIT, $0-16
	MOVQ rk+0(FP), AX
	MOVQ htab+8(FP), DI

	// H = AES-256_K(0^128).
	VPXOR X1, X1, X1
	AES256_X(AX, X1)

	// Byte-reflect H, then multiply by x^-1 (= y): a 128-bit left shift by
	// one with reduction by g' if bit 127 falls out. There is no 128-bit
	// shift, so double each 64-bit half (VPADDQ) and fix up with a mask:
	// the sign of dword 3 (bit 127) selects the reduction constant
	// (bit 0 and 0xc2<<120), the sign of dword 1 (bit 63) selects the
	// carry into bit 64.
	VMOVDQU   bswapMask<>(SB), X2
	VPSHUFB   X2, X1, X1
	VPSHUFD   $0xd3, X1, X3          // dwords {3, 0, 1, 3}
	VPSRAD    $31, X3, X3            // sign masks
	VPADDQ    X1, X1, X1
	VPAND     gfpolyCarry<>(SB), X3, X3
	VPXOR     X3, X1, X1             // X1 = H * x^-1 (reflected)

	// Powers: htab[(32-k)*16] = H^k * x^-1 for k = 1..32, and their
	// Karatsuba sums at HK_OFF.
	VMOVDQA   X1, X4
	MOVQ      $496, CX
init_pow_loop:
	VMOVDQU   X4, (DI)(CX*1)
	VPSHUFD   $0x4e, X4, X5
	VPXOR     X4, X5, X5
	VMOVDQU   X5, HK_OFF(DI)(CX*1)
	GFMUL_X(X4, X1, X4)              // X4 = next power
	SUBQ      $16, CX
	JGE       init_pow_loop

	// Zero padding after H^1 and after its Karatsuba sum.
	VPXOR     X4, X4, X4
	VMOVDQU   X4, 512(DI)
	VMOVDQU   X4, 528(DI)
	VMOVDQU   X4, 544(DI)
	VMOVDQU   X4, 560(DI)
	VMOVDQU   X4, 1088(DI)
	VMOVDQU   X4, 1104(DI)
	VMOVDQU   X4, 1120(DI)
	VMOVDQU   X4, 1136(DI)
	VPXOR     X1, X1, X1
	VPXOR     X5, X5, X5
	CLEAR_VECTORS
	RET

// ghashAbsorb<>: ACC = GHASH update of ACC with CX bytes at SI, the last
// partial block zero-padded. In: SI, CX, HTAB, ACC, BSWAP.
// Clobbers SI, CX, AX, DX, DI, K1, Z1..Z10.
TEXT ghashAbsorb<>(SB), NOSPLIT, $0
	CMPQ CX, $512
	JB   absorb_partial

absorb_loop32:
	// 32 blocks (8 vectors), one reduction. Vector v (bytes 64v..64v+63)
	// is multiplied by H^(32-4v)..H^(29-4v), read at htab[64v]. The pairs
	// that do not depend on ACC come first, so the loop-carried chain
	// (ACC -> vector 0 products -> reduction -> ACC) stays short.
	PAIR_LOAD(SI, 448, 384)
	PAIR_MUL(448, 384)
	PAIR_SUM_FIRST
	PAIR_LOAD(SI, 320, 256)
	PAIR_MUL(320, 256)
	PAIR_SUM
	PAIR_LOAD(SI, 192, 128)
	PAIR_MUL(192, 128)
	PAIR_SUM
	PAIR_LOAD(SI, 64, 0)
	VPXORD ACC, DB, DB                   // acc joins block 1
	PAIR_MUL(64, 0)
	PAIR_SUM
	KFINISH
	REDUCE_1
	REDUCE_2
	FOLD_LANES
	ADDQ $512, SI
	SUBQ $512, CX
	CMPQ CX, $512
	JAE  absorb_loop32

absorb_partial:
	// 0..511 bytes left = m = ceil(CX/16) blocks (last one zero-padded).
	// Block j (0-based) is multiplied by H^(m-j): powers are read from
	// DI = htab + (32-m)*16 onwards; lanes past the data see zero data
	// (and, past H^1, zero powers), contributing nothing.
	TESTQ CX, CX
	JZ    absorb_done
	LEAQ  15(CX), AX
	SHRQ  $4, AX                         // AX = m
	SHLQ  $4, AX
	NEGQ  AX
	LEAQ  512(HTAB)(AX*1), DI            // DI = &htab[(32-m)*16]
	VPXORD LO, LO, LO
	VPXORD MI, MI, MI
	VPXORD HI, HI, HI

absorb_partial_loop:
	// One vector per iteration (DB = data, powers at DI).
	CMPQ CX, $64
	JB   absorb_partial_last
	VMOVDQU64 (SI), DB
	VPSHUFB   BSWAP, DB, DB
	VPXORD    ACC, DB, DB                // acc joins the first block only:
	VPXORD    ACC, ACC, ACC              // it is cleared right after
	CALL      absorbOne<>(SB)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $64, CX
	JNZ  absorb_partial_loop
	JMP  absorb_partial_reduce

absorb_partial_last:
	// 1..63 bytes: masked load zero-fills the rest of the vector.
	MOVQ  $1, DX
	SHLQ  CX, DX
	DECQ  DX
	KMOVQ DX, K1
	VMOVDQU8.Z (SI), K1, DB
	VPSHUFB   BSWAP, DB, DB
	VPXORD    ACC, DB, DB
	CALL      absorbOne<>(SB)

absorb_partial_reduce:
	KFINISH
	REDUCE_1
	REDUCE_2
	FOLD_LANES

absorb_done:
	RET

// absorbOne<>: LO, MI, HI ^= Karatsuba products of DB with the powers at
// (DI) and their sums at HK_OFF(DI). Clobbers DB, KD, T0, T1.
TEXT absorbOne<>(SB), NOSPLIT, $0
	VPSHUFD    $0x4e, DB, KD
	VPXORD     DB, KD, KD
	VPCLMULQDQ $0x00, (DI), DB, T0
	VPCLMULQDQ $0x11, (DI), DB, T1
	VPCLMULQDQ $0x00, HK_OFF(DI), KD, KD
	VPXORD     T0, LO, LO
	VPXORD     T1, HI, HI
	VPXORD     KD, MI, MI
	RET

// func ghashAsm(htab *[1152]byte, acc *[16]byte, data []byte)
TEXT ·ghashAsm(SB), NOSPLIT, $0-40
	MOVQ htab+0(FP), HTAB
	MOVQ acc+8(FP), BX
	MOVQ data_base+16(FP), SI
	MOVQ data_len+24(FP), CX
	VMOVDQU64 bswapMask<>(SB), BSWAP
	VMOVDQU   (BX), ACCX                 // zeroes the upper lanes
	VPSHUFB   BSWAPX, ACCX, ACCX
	CALL      ghashAbsorb<>(SB)
	VPSHUFB   BSWAPX, ACCX, ACCX
	VMOVDQU   ACCX, (BX)
	CLEAR_VECTORS
	RET

#define TAGMASK X15   // E_K(J0) in tagAsm

// func tagAsm(rk *[240]byte, htab *[1152]byte, j0, tag *[16]byte, ad, ct []byte)
//
// tag = GHASH_H(ad || pad || ct || pad || len64(ad)*8 || len64(ct)*8)
//       ^ AES-256_K(j0)
TEXT ·tagAsm(SB), NOSPLIT, $0-80
	MOVQ rk+0(FP), AX
	MOVQ htab+8(FP), HTAB
	MOVQ j0+16(FP), DX
	MOVQ tag+24(FP), BX

	// Tag mask E_K(J0); independent of GHASH, so it overlaps with it.
	VMOVDQU (DX), TAGMASK
	AES256_X(AX, TAGMASK)

	VMOVDQU64 bswapMask<>(SB), BSWAP
	VPXORD    ACC, ACC, ACC
	MOVQ      ad_base+32(FP), SI
	MOVQ      ad_len+40(FP), CX
	CALL      ghashAbsorb<>(SB)
	MOVQ      ct_base+56(FP), SI
	MOVQ      ct_len+64(FP), CX
	CALL      ghashAbsorb<>(SB)
	MOVQ      ad_len+40(FP), DX
	MOVQ      ct_len+64(FP), CX
	LEN_BLOCK_AND_MUL(DX, CX)

	// tag = reflect(ACC) ^ E_K(J0)
	VPSHUFB BSWAPX, ACCX, ACCX
	VPXOR   TAGMASK, ACCX, ACCX
	VMOVDQU ACCX, (BX)
	VPXOR   TAGMASK, TAGMASK, TAGMASK
	CLEAR_VECTORS
	RET

// ---------------------------------------------------------------------------
// sealAsm: GCM encryption with CTR and GHASH stitched together.
//
// While the AES rounds of 16-block chunk i run, the GHASH of chunk i-1
// (already written to dst) is interleaved with them: on Zen 4 VAESENC and
// VPCLMULQDQ mostly execute in parallel, so the GHASH work largely hides
// behind the AES work. Registers: GHASH Z0..Z10 (above), AES states
// Z11..Z14, counters Z15, round keys Z16..Z30, BSWAP Z31; GFPOLY and INC4
// are memory operands.
// ---------------------------------------------------------------------------

#define SA0 Z11
#define SA1 Z12
#define SA2 Z13
#define SA3 Z14
#define CTR Z15
#define SDST R10      // dst cursor
#define SSRC R11      // src cursor
#define SLEN R12      // bytes left
#define STAG R13      // &dst[len(src)]: tag slot (holds E_K(J0) until the end)

// SEAL_LAST(off): finish chunk-vector SAk with the last round, XOR the
// plaintext and store the ciphertext.
#define SEAL_LAST(a, off) \
	VAESENCLAST RK14, a, a;      \
	VPXORD      off(SSRC), a, a; \
	VMOVDQU64   a, off(SDST)

// SEAL_CHUNK_END: AES rounds 11..13 of the chunk's four vectors, XOR with
// the plaintext and store the ciphertext (SEAL_LAST), advance to the next
// 256-byte chunk.
#define SEAL_CHUNK_END \
	ROUND4(RK11, SA0, SA1, SA2, SA3); \
	ROUND4(RK12, SA0, SA1, SA2, SA3); \
	ROUND4(RK13, SA0, SA1, SA2, SA3); \
	SEAL_LAST(SA0, 0); \
	SEAL_LAST(SA1, 64); \
	SEAL_LAST(SA2, 128); \
	SEAL_LAST(SA3, 192); \
	ADDQ $256, SSRC; \
	ADDQ $256, SDST; \
	SUBQ $256, SLEN

// func sealAsm(rk *[240]byte, htab *[1152]byte, j0 *[16]byte, dst, src, ad []byte)
//
// dst[:len(src)] = CTR encryption of src starting at inc32(j0);
// dst[len(src):len(src)+16] = GCM tag over ad and the ciphertext.
TEXT ·sealAsm(SB), NOSPLIT, $0-96
	MOVQ rk+0(FP), AX
	MOVQ htab+8(FP), HTAB
	MOVQ j0+16(FP), DX
	MOVQ dst_base+24(FP), SDST
	MOVQ src_base+48(FP), SSRC
	MOVQ src_len+56(FP), SLEN
	LEAQ (SDST)(SLEN*1), STAG

	// Park E_K(J0) in the tag slot of dst (part of the output, not aliased
	// by src or ad); it is XORed into the GHASH result at the end.
	VMOVDQU (DX), X1
	AES256_X(AX, X1)
	VMOVDQU X1, (STAG)

	// Counters inc32(J0) .. inc32(J0)+3, round keys.
	VMOVDQU64       bswapMask<>(SB), BSWAP
	VBROADCASTI32X4 (DX), CTR
	VPSHUFB         BSWAP, CTR, CTR
	VPADDD          ctrOffsets1<>(SB), CTR, CTR
	LOAD_ROUND_KEYS(AX)

	// GHASH the additional data first.
	VPXORD ACC, ACC, ACC
	MOVQ   ad_base+72(FP), SI
	MOVQ   ad_len+80(FP), CX
	CALL   ghashAbsorb<>(SB)

	CMPQ SLEN, $256
	JB   seal_tail

	// Chunk 0: AES only.
	NEXT_CTR(SA0)
	NEXT_CTR(SA1)
	NEXT_CTR(SA2)
	NEXT_CTR(SA3)
	ROUND4(RK1, SA0, SA1, SA2, SA3)
	ROUND4(RK2, SA0, SA1, SA2, SA3)
	ROUND4(RK3, SA0, SA1, SA2, SA3)
	ROUND4(RK4, SA0, SA1, SA2, SA3)
	ROUND4(RK5, SA0, SA1, SA2, SA3)
	ROUND4(RK6, SA0, SA1, SA2, SA3)
	ROUND4(RK7, SA0, SA1, SA2, SA3)
	ROUND4(RK8, SA0, SA1, SA2, SA3)
	ROUND4(RK9, SA0, SA1, SA2, SA3)
	ROUND4(RK10, SA0, SA1, SA2, SA3)
	SEAL_CHUNK_END

seal_loop:
	CMPQ SLEN, $256
	JB   seal_last_chunk
	// Encrypt chunk i (SSRC -> SDST) and GHASH chunk i-1 (DI = SDST-256,
	// 16 blocks with powers H^16..H^1 at htab[256:512]).
	LEAQ -256(SDST), DI
	NEXT_CTR(SA0)
	NEXT_CTR(SA1)
	NEXT_CTR(SA2)
	NEXT_CTR(SA3)
	PAIR_LOAD(DI, 192, 128)
	ROUND4(RK1, SA0, SA1, SA2, SA3)
	PAIR_MUL(448, 384)
	ROUND4(RK2, SA0, SA1, SA2, SA3)
	ROUND4(RK3, SA0, SA1, SA2, SA3)
	PAIR_SUM_FIRST
	ROUND4(RK4, SA0, SA1, SA2, SA3)
	PAIR_LOAD(DI, 64, 0)
	VPXORD ACC, DB, DB
	ROUND4(RK5, SA0, SA1, SA2, SA3)
	PAIR_MUL(320, 256)
	ROUND4(RK6, SA0, SA1, SA2, SA3)
	ROUND4(RK7, SA0, SA1, SA2, SA3)
	PAIR_SUM
	KFINISH
	ROUND4(RK8, SA0, SA1, SA2, SA3)
	REDUCE_1
	ROUND4(RK9, SA0, SA1, SA2, SA3)
	REDUCE_2
	ROUND4(RK10, SA0, SA1, SA2, SA3)
	FOLD_LANES
	SEAL_CHUNK_END
	JMP  seal_loop

seal_last_chunk:
	// GHASH the last full chunk (no more AES to overlap with).
	LEAQ -256(SDST), DI
	PAIR_LOAD(DI, 192, 128)
	PAIR_MUL(448, 384)
	PAIR_SUM_FIRST
	PAIR_LOAD(DI, 64, 0)
	VPXORD ACC, DB, DB
	PAIR_MUL(320, 256)
	PAIR_SUM
	KFINISH
	REDUCE_1
	REDUCE_2
	FOLD_LANES

seal_tail:
	// 0..255 bytes left: encrypt a vector at a time, then GHASH them.
	TESTQ SLEN, SLEN
	JZ    seal_finish
	MOVQ  SDST, BX                       // start of the tail ciphertext
	MOVQ  SLEN, R8                       // and its length

seal_tail_loop:
	CMPQ SLEN, $64
	JB   seal_tail_last
	NEXT_CTR(SA0)
	ROUNDS_1_13_1(SA0)
	SEAL_LAST(SA0, 0)
	ADDQ $64, SSRC
	ADDQ $64, SDST
	SUBQ $64, SLEN
	JMP  seal_tail_loop

seal_tail_last:
	// 0..63 bytes: byte-masked load and store.
	TESTQ SLEN, SLEN
	JZ    seal_tail_ghash
	MOVQ  $1, DX
	MOVQ  SLEN, CX
	SHLQ  CX, DX
	DECQ  DX                             // DX = (1 << SLEN) - 1
	KMOVQ DX, K1
	NEXT_CTR(SA0)
	ROUNDS_1_13_1(SA0)
	VAESENCLAST RK14, SA0, SA0
	VMOVDQU8.Z  (SSRC), K1, SA1
	VPXORD      SA1, SA0, SA0
	VMOVDQU8    SA0, K1, (SDST)

seal_tail_ghash:
	MOVQ BX, SI
	MOVQ R8, CX
	CALL ghashAbsorb<>(SB)

seal_finish:
	// Length block, then tag = reflect(ACC) ^ E_K(J0).
	MOVQ ad_len+80(FP), DX
	MOVQ src_len+56(FP), CX
	LEN_BLOCK_AND_MUL(DX, CX)
	VPSHUFB BSWAPX, ACCX, ACCX
	VPXOR   (STAG), ACCX, ACCX
	VMOVDQU ACCX, (STAG)
	CLEAR_VECTORS
	RET
