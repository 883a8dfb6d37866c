package dsl

import (
	"fmt"
	"sort"
	"strings"
)

// Suggest returns the candidate closest to word, or "" when none is close
// enough to be a plausible typo (edit distance at most a third of the word,
// and at least 1).
func Suggest(word string, candidates []string) string {
	best, bestDist := "", len(word)/3+1
	if bestDist < 2 {
		bestDist = 2
	}
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(word), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// DidYouMean formats Suggest's answer as a sentence to append to an error,
// or "" when there is no suggestion.
func DidYouMean(word string, candidates []string) string {
	if s := Suggest(word, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// OneOf lists candidates sorted, for an error message: "a, b or c".
func OneOf(candidates []string) string {
	c := append([]string(nil), candidates...)
	sort.Strings(c)
	switch len(c) {
	case 0:
		return "(none)"
	case 1:
		return c[0]
	}
	return strings.Join(c[:len(c)-1], ", ") + " or " + c[len(c)-1]
}

// editDistance is the Levenshtein distance between a and b, counted in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
