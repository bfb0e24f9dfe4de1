package spec

import "github.com/agext/levenshtein"

// nearest returns the candidate closest to name when it is close enough to be
// a likely typo, or "".
func nearest(name string, candidates []string) string {
	best, bestDist := "", 4
	for _, c := range candidates {
		if d := levenshtein.Distance(name, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
