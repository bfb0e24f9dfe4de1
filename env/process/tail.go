package process

import (
	"bufio"
	"io"
)

// Tail returns the last n lines r holds, such as the end of a component's
// log.
func Tail(r io.Reader, n int) ([]string, error) {
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines, sc.Err()
}
