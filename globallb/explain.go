package globallb

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// Explain renders a table as text: one line per target with its
// priority, weight, health and share, then the per-priority health and
// load, and whether panic mode is on.
func Explain(t *Table) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tPRIORITY\tWHY\tWEIGHT\tHEALTHY\tSHARE\tNOTES")
	for _, r := range t.Rows {
		healthy := "yes"
		switch {
		case r.Excluded:
			healthy = "excluded"
		case !r.Healthy:
			healthy = "no"
		}
		notes := strings.Join(r.Notes, "; ")
		if notes == "" {
			notes = "-"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%g\t%s\t%.1f%%\t%s\n", r.Cluster, r.Priority, r.Why, r.Weight, healthy, 100*r.Share, notes)
	}
	w.Flush()
	for p := range t.Health {
		fmt.Fprintf(&b, "priority %d health %.0f%% (healthy share × overprovisioning factor, capped at 100%%), load %.1f%%\n", p, 100*t.Health[p], 100*t.Load[p])
	}
	switch {
	case len(t.Rows) == 0:
		b.WriteString("no cluster exports the service\n")
	case t.Panic:
		fmt.Fprintf(&b, "PANIC: normalized health %.0f%% is under the panic threshold; health is ignored and traffic is spread by weight\n", 100*t.NormalizedHealth)
	default:
		fmt.Fprintf(&b, "normalized health %.0f%%: traffic fills priorities in order, each up to its health\n", 100*t.NormalizedHealth)
	}
	return b.String()
}
