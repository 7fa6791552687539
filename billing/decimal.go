package billing

import (
	"fmt"
	"math/big"

	"github.com/gofastr/store/abi"
)

// Unit is the money unit a provider writes its amounts in, as a number of
// nano-dollars.
type Unit int64

const (
	// Dollars: "1.5" is 1.5 USD.
	Dollars Unit = 1_000_000_000
	// Cents: "123.45" is 1.2345 USD (Anthropic's cost report).
	Cents Unit = 10_000_000
)

// maxDecimalLen bounds the text of one amount; maxExponent bounds its
// exponent, so that parsing never builds huge numbers.
const (
	maxDecimalLen = 64
	maxExponent   = 40
)

// Sum adds decimal amounts exactly. The zero value is an empty sum. Each
// amount is kept exactly, whatever its number of fractional digits; Nanos
// rounds the total once.
type Sum struct {
	r big.Rat
	n int
}

// Add adds the decimal text (as in JSON: an optional minus sign, digits,
// an optional fraction and exponent; at most 64 characters) in unit u. An
// invalid text is an error matching ErrMalformed, and the sum is
// unchanged.
func (s *Sum) Add(text string, u Unit) error {
	r, err := parseDecimal(text)
	if err != nil {
		return err
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(u)))
	s.r.Add(&s.r, r)
	s.n++
	return nil
}

// Len returns the number of amounts added.
func (s *Sum) Len() int { return s.n }

// Nanos returns the sum in nano-dollars, rounded half away from zero. A
// sum outside the range of int64 is an error matching ErrMalformed.
func (s *Sum) Nanos() (abi.NanoUSD, error) {
	num := new(big.Int).Set(s.r.Num())
	den := s.r.Denom()
	neg := num.Sign() < 0
	num.Abs(num)
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if m.Lsh(m, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("%w: total of %d amounts out of range", ErrMalformed, s.n)
	}
	return abi.NanoUSD(q.Int64()), nil
}

// ParseNanos parses one decimal amount in unit u into nano-dollars,
// rounded half away from zero (see Sum.Add for the syntax).
func ParseNanos(text string, u Unit) (abi.NanoUSD, error) {
	var s Sum
	if err := s.Add(text, u); err != nil {
		return 0, err
	}
	return s.Nanos()
}

// parseDecimal parses -?D+(.D+)?([eE][+-]?D+)? exactly.
func parseDecimal(text string) (*big.Rat, error) {
	bad := func(why string) error {
		if len(text) > maxDecimalLen {
			return fmt.Errorf("%w: amount of %d characters: %s", ErrMalformed, len(text), why)
		}
		return fmt.Errorf("%w: amount %q: %s", ErrMalformed, text, why)
	}
	if len(text) == 0 || len(text) > maxDecimalLen {
		return nil, bad("not a decimal number of 1 to 64 characters")
	}
	i := 0
	neg := false
	if text[0] == '-' {
		neg = true
		i++
	}
	digits := make([]byte, 0, len(text))
	start := i
	for i < len(text) && text[i] >= '0' && text[i] <= '9' {
		digits = append(digits, text[i])
		i++
	}
	if i == start {
		return nil, bad("no integer digits")
	}
	frac := 0
	if i < len(text) && text[i] == '.' {
		i++
		fs := i
		for i < len(text) && text[i] >= '0' && text[i] <= '9' {
			digits = append(digits, text[i])
			i++
		}
		frac = i - fs
		if frac == 0 {
			return nil, bad("no fraction digits after the point")
		}
	}
	exp := 0
	if i < len(text) && (text[i] == 'e' || text[i] == 'E') {
		i++
		eneg := false
		if i < len(text) && (text[i] == '+' || text[i] == '-') {
			eneg = text[i] == '-'
			i++
		}
		es := i
		for i < len(text) && text[i] >= '0' && text[i] <= '9' {
			if exp > maxExponent {
				return nil, bad("exponent out of range")
			}
			exp = exp*10 + int(text[i]-'0')
			i++
		}
		if i == es {
			return nil, bad("no exponent digits")
		}
		if exp > maxExponent {
			return nil, bad("exponent out of range")
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(text) {
		return nil, bad("trailing characters")
	}
	mant, ok := new(big.Int).SetString(string(digits), 10)
	if !ok {
		return nil, bad("not a decimal number")
	}
	if neg {
		mant.Neg(mant)
	}
	shift := exp - frac
	r := new(big.Rat).SetInt(mant)
	if shift != 0 {
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(shift))), nil)
		if shift > 0 {
			r.Mul(r, new(big.Rat).SetInt(p))
		} else {
			r.Quo(r, new(big.Rat).SetInt(p))
		}
	}
	return r, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
