package benchkit_test

import (
	"testing"

	"github.com/meshfed/meshfed/test/bench/benchkit"
)

func TestReplaceSection(t *testing.T) {
	const heading = "## Gateway data plane"
	const sec = heading + "\n\nnew\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"absent: appended", "# B\n\n## Other\n\nx\n", "# B\n\n## Other\n\nx\n\n" + sec},
		{"last: replaced to the end", "# B\n\n" + heading + "\n\nold\nold\n", "# B\n\n" + sec},
		{"last with a subsection: replaced to the end", "# B\n\n## Summary\n\nx\n\n" + heading + "\n\nold\n### sub\n\nold\n", "# B\n\n## Summary\n\nx\n\n" + sec},
		{"middle: others kept", "# B\n\n" + heading + "\n\nold\n\n## Next\n\ny\n", "# B\n\n" + sec + "\n## Next\n\ny\n"},
		{"first line", heading + "\n\nold\n## Next\n", sec + "\n## Next\n"},
		{"a longer heading is another section", "# B\n\n" + heading + " (old)\n\nz\n", "# B\n\n" + heading + " (old)\n\nz\n\n" + sec},
		{"a heading with more words is another section", "# B\n\n" + heading + " notes\n\nkept\n", "# B\n\n" + heading + " notes\n\nkept\n\n" + sec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := benchkit.ReplaceSection(tc.doc, heading, sec); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
