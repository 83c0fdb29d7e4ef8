package benchkit

import (
	"errors"
	"io/fs"
	"os"
	"strings"
)

// WriteSection replaces the section of the Markdown file at path that
// starts with the line heading ("## Gateway data plane") with section,
// from the heading to the next "## " heading or the end, keeping
// everything else. It appends the section when there is none, and
// creates the file (titled "# Benchmarks") when it does not exist.
func WriteSection(path, heading, section string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	doc := string(b)
	if doc == "" {
		doc = "# Benchmarks\n"
	}
	return os.WriteFile(path, []byte(ReplaceSection(doc, heading, section)), 0o644)
}

// ReplaceSection is WriteSection's text operation on doc. A heading that
// only starts with heading ("## Gateway data plane notes") is another
// section.
func ReplaceSection(doc, heading, section string) string {
	section = strings.TrimRight(section, "\n") + "\n"
	start := -1
	if strings.HasPrefix(doc, heading+"\n") {
		start = 0
	} else if i := strings.Index(doc, "\n"+heading+"\n"); i >= 0 {
		start = i + 1
	}
	if start < 0 {
		return strings.TrimRight(doc, "\n") + "\n\n" + section
	}
	rest := doc[start+len(heading):]
	end := len(doc)
	if i := strings.Index(rest, "\n## "); i >= 0 {
		end = start + len(heading) + i + 1
		section += "\n"
	}
	return doc[:start] + section + doc[end:]
}
