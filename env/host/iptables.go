package host

import (
	"bufio"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// families are the iptables commands of this machine: iptables, and
// ip6tables where it is installed.
func families() []string {
	var out []string
	for _, f := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(f + "-save"); err == nil {
			out = append(out, f)
		}
	}
	return out
}

func save(family string) (string, error) {
	out, err := exec.Command(family + "-save").Output()
	if err != nil {
		return "", fmt.Errorf("%s-save: %w", family, err)
	}
	return string(out), nil
}

// ruleset is one iptables-save dump: per table, its chains and its rules
// as iptables-save writes them ("-A CHAIN ...").
type ruleset map[string]*table

type table struct {
	// chains are the user-defined chains; the built-in ones (those with
	// a policy) are never added nor removed.
	chains []string
	rules  []string
}

func parse(dump string) ruleset {
	rs := ruleset{}
	var t *table
	sc := bufio.NewScanner(strings.NewReader(dump))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			t = &table{}
			rs[line[1:]] = t
		case t == nil:
		case strings.HasPrefix(line, ":"):
			if f := strings.Fields(line[1:]); len(f) > 1 && f[1] == "-" {
				t.chains = append(t.chains, f[0])
			}
		case strings.HasPrefix(line, "-A "):
			t.rules = append(t.rules, line)
		}
	}
	return rs
}

// undo is the iptables-restore input that takes now back to before: it
// deletes the rules added to chains that were there, then flushes and
// deletes the chains added.
func undo(before, now ruleset) string {
	var b strings.Builder
	for name, t := range now {
		old := before[name]
		if old == nil {
			old = &table{}
		}
		var added []string
		for _, c := range t.chains {
			if !slices.Contains(old.chains, c) {
				added = append(added, c)
			}
		}
		remaining := slices.Clone(old.rules)
		var deletes []string
		for _, r := range t.rules {
			if i := slices.Index(remaining, r); i >= 0 {
				remaining = slices.Delete(remaining, i, i+1)
				continue
			}
			chain := strings.Fields(r)[1]
			if !slices.Contains(added, chain) {
				deletes = append(deletes, "-D"+strings.TrimPrefix(r, "-A"))
			}
		}
		if len(added)+len(deletes) == 0 {
			continue
		}
		fmt.Fprintf(&b, "*%s\n", name)
		for _, d := range deletes {
			fmt.Fprintln(&b, d)
		}
		for _, c := range added {
			fmt.Fprintf(&b, "-F %s\n", c)
		}
		for _, c := range added {
			fmt.Fprintf(&b, "-X %s\n", c)
		}
		fmt.Fprintln(&b, "COMMIT")
	}
	return b.String()
}

// restoreIptables takes family's rules back to before.
func restoreIptables(family, before string) error {
	now, err := save(family)
	if err != nil {
		return err
	}
	script := undo(parse(before), parse(now))
	if script == "" {
		return nil
	}
	cmd := exec.Command(family+"-restore", "--noflush")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s-restore: %w: %s\ninput:\n%s", family, err, out, script)
	}
	return nil
}
