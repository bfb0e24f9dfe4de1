package plan_test

import (
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/plan"
)

func TestCompare(t *testing.T) {
	const scheduler = `
component "kube-scheduler" {
  port = 20259
}`
	old := newPlan(t, allThree)
	for _, tc := range []struct {
		name        string
		edit        func(string) string
		restart     []string
		anew        string
		nothingToDo bool
	}{
		{name: "no change", edit: func(s string) string { return s }, nothingToDo: true},
		{name: "a flag", edit: func(s string) string {
			return strings.Replace(s, scheduler, `
component "kube-scheduler" {
  port  = 20259
  flags = { v = 7 }
}`, 1)
		}, restart: []string{"kube-scheduler"}},
		{name: "breakpoints moved down the spec by a comment", edit: func(s string) string { return "# a comment\n" + s }, nothingToDo: true},
		{name: "a port", edit: func(s string) string { return strings.Replace(s, "port = 20259", "port = 20260", 1) },
			anew: `where component "kube-scheduler" listens or logs`},
		{name: "etcd", edit: func(s string) string { return strings.Replace(s, "port = 12379", "port = 12380", 1) }, anew: "etcd or the network"},
		{name: "the source", edit: func(s string) string { return strings.Replace(s, "v1.34.4", "v1.34.3", 1) }, anew: "the source"},
		{name: "a component removed", edit: func(s string) string { return strings.Replace(s, scheduler, "", 1) }, anew: "the components"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := plan.Compare(old, newPlan(t, tc.edit(allThree)))
			var restart []string
			for _, c := range ch.Restart {
				restart = append(restart, c.Name)
			}
			switch {
			case tc.nothingToDo && (len(ch.Restart) > 0 || len(ch.Anew) > 0):
				t.Errorf("restart %v, anew %v; want nothing to do", restart, ch.Anew)
			case tc.anew != "" && (len(ch.Restart) > 0 || !strings.Contains(strings.Join(ch.Anew, "; "), tc.anew)):
				t.Errorf("restart %v, anew %v; want a new environment for %s, and no restart", restart, ch.Anew, tc.anew)
			case tc.restart != nil && (strings.Join(restart, ",") != strings.Join(tc.restart, ",") || len(ch.Anew) > 0):
				t.Errorf("restart %v, anew %v; want to restart %v", restart, ch.Anew, tc.restart)
			}
		})
	}
}
