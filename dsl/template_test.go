package dsl

import (
	"testing"
)

func TestParseTemplate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string // parts joined: literal text as is, references as <step.name>
		err  string
	}{
		{in: "plain", want: "plain"},
		{in: "", want: ""},
		{in: "${rows}", want: "<.rows>"},
		{in: "a ${x} b ${stop.service}", want: "a <.x> b <stop.service>"},
		{in: "${ spaced }", want: "<.spaced>"},
		{in: "cost $5 and $${literal}", want: "cost $5 and ${literal}"},
		{in: "${a.b.c}", err: `bad reference "${a.b.c}": write ${var} or ${step_id.metric}`},
		{in: "${}", err: `bad reference "${}": write ${var} or ${step_id.metric}`},
		{in: "${.x}", err: `bad reference "${.x}": write ${var} or ${step_id.metric}`},
		{in: "${9lives}", err: `bad reference "${9lives}": write ${var} or ${step_id.metric}`},
		{in: "x ${open", err: `unterminated "${": close it with "}" or write "$${" for a literal "${"`},
	} {
		parts, err := ParseTemplate(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseTemplate(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", tc.in, err)
			continue
		}
		got := ""
		for _, p := range parts {
			if p.Ref != nil {
				got += "<" + p.Ref.Step + "." + p.Ref.Name + ">"
			} else {
				got += p.Text
			}
		}
		if got != tc.want {
			t.Errorf("ParseTemplate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	parts, err := ParseTemplate("leader ${stop.member} on ${host}")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Expand(parts, func(r Ref) (string, bool) {
		return map[string]string{"stop.member": "postgres-master", ".host": "db1"}[r.Step+"."+r.Name], true
	})
	if err != nil || got != "leader postgres-master on db1" {
		t.Errorf("Expand = %q, %v", got, err)
	}
	_, err = Expand(parts, func(Ref) (string, bool) { return "", false })
	if err == nil || err.Error() != "${stop.member} has no value" {
		t.Errorf("Expand of a missing value: %v", err)
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	cands := []string{"duration", "interval", "service", "GET", "POST"}
	for in, want := range map[string]string{
		"duraton": "duration", "servise": "service", "GTE": "GET", "intreval": "interval",
		"teleport": "", "x": "",
	} {
		if got := Suggest(in, cands); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParsePositions(t *testing.T) {
	t.Parallel()
	src := "name: demo\nsteps:\n  - id: nap\n    kind: sleep\n    duration: 1s\nchecks:\n  - \"rto_s < 60\"\n  - expr: lag_mb < 1\n    name: lag\n"
	sc, err := Parse("demo.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.Steps[0].KindPos.String(); got != "demo.yaml:4:11" {
		t.Errorf("kind position %s", got)
	}
	if c := sc.Checks[0]; c.ExprPos.String() != "demo.yaml:7:6" || c.ExprText.lines == nil || c.Name != "rto_s < 60" {
		t.Errorf("quoted check: %+v", c)
	}
	if c := sc.Checks[1]; c.ExprPos.String() != "demo.yaml:8:11" || c.Name != "lag" {
		t.Errorf("mapping check: %+v", c)
	}
	if p := sc.Steps[0].Params; len(p.Content) != 2 || p.Content[0].Value != "duration" {
		t.Errorf("params keep only the kind's keys: %v", p.Content)
	}
}
