package main

import "fmt"

// fmtUSD formats nano-dollars as dollars with 6 decimals.
func fmtUSD(nanos int64) string {
	sign := ""
	if nanos < 0 {
		sign = "-"
		nanos = -nanos
	}
	return fmt.Sprintf("%s$%d.%06d", sign, nanos/1e9, nanos%1e9/1e3)
}

// plural returns "1 event", "2 events".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
