package main

import "fmt"

// plural is one when n is 1, otherwise many: "1 seed", "2 seeds".
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// count is n with its noun in agreement: count(1, "seed", "seeds") is "1 seed".
func count(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, plural(n, one, many))
}
