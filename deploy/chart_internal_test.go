package deploy

import (
	"slices"
	"strings"
	"testing"
)

func TestMergeConditional(t *testing.T) {
	for _, tc := range []struct {
		name          string
		off, on, want string
	}{
		{"same", "a\nb", "a\nb", "a\nb"},
		{"added", "a\nc", "a\n  b\nc", "a\n  {{- if X }}\n  b\n  {{- end }}\nc"},
		{"removed", "a\nb\nc", "a\nc", "a\n{{- if not X }}\nb\n{{- end }}\nc"},
		{"changed", "a\nb\nc", "a\nB\nc", "a\n{{- if X }}\nB\n{{- else }}\nb\n{{- end }}\nc"},
		{"added at the end", "a", "a\nb", "a\n{{- if X }}\nb\n{{- end }}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mergeConditional(strings.Split(tc.off, "\n"), strings.Split(tc.on, "\n"), "X")
			if want := strings.Split(tc.want, "\n"); !slices.Equal(got, want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), tc.want)
			}
		})
	}
}

func TestReplaceBlockRefusesSharedMaps(t *testing.T) {
	p := blockPlaceholder{token: "TOK", key: "resources", tmpl: func(ind string) string { return ind + "X" }}
	for _, tc := range []struct {
		lines []string
		at    int // the token's line
	}{
		{[]string{"resources:", "  limits:", "    cpu: 1", "  requests:", "    TOK: 1"}, 4},
		{[]string{"resources:", "  requests:", "    TOK: 1", "    cpu: 1"}, 2},
		{[]string{"other:", "  TOK: 1"}, 1},
	} {
		if _, err := replaceBlock(tc.lines, tc.at, p); err == nil {
			t.Errorf("replaceBlock(%q) accepted it", tc.lines)
		}
	}
	got, err := replaceBlock([]string{"c:", "  resources:", "    requests:", "      TOK: 1", "  next: 1"}, 3, p)
	if err != nil || !slices.Equal(got, []string{"c:", "  X", "  next: 1"}) {
		t.Fatalf("replaceBlock: %q, %v", got, err)
	}
}
