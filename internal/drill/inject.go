package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/gateway"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// ControlPlane is what a drill needs of the control plane's admin API.
type ControlPlane interface {
	// State returns the whole current state (one Watch snapshot).
	State(ctx context.Context) (*client.State, error)
	PutDrain(ctx context.Context, d *meshfedv1.Drain) error
	DeleteDrain(ctx context.Context, d *meshfedv1.Drain) error
	// PutReport stores a finished drill's report.
	PutReport(ctx context.Context, r *meshfedv1.DrillReport) error
}

// faultMargin is how long an injected gateway fault outlives the drill's
// planned end, so a runner that dies leaves nothing behind for long.
const faultMargin = 30 * time.Second

// injector applies one fault to one place and undoes it.
type injector interface {
	// String says what inject does, for plans and reports.
	String() string
	// check verifies, changing nothing, that inject can work.
	check(ctx context.Context) error
	// inject applies the fault and returns when it took effect, as
	// near as the runner can tell: a kill's signal, or the answer of the
	// control plane or gateway that stored the fault.
	inject(ctx context.Context) (time.Time, error)
	// rollback undoes inject; it returns once the fault is gone (a
	// killed gateway restarted and ready). Safe to call after a failed
	// or no inject.
	rollback(ctx context.Context) error
}

// drainInjector drains a cluster, or one service's copy in it, through
// the control plane.
type drainInjector struct {
	cp       ControlPlane
	d        *meshfedv1.Drain
	injected bool
}

func (i *drainInjector) String() string {
	return "drain " + schema.DescribeDrain(i.d.GetCluster(), i.d.GetNamespace(), i.d.GetName()) + " " + drainPeriod(i.d.GetPeriodSeconds()) + " (control plane PutDrain; rollback DeleteDrain)"
}

func drainPeriod(s int64) string {
	if s == 0 {
		return "at once"
	}
	return "over " + (time.Duration(s) * time.Second).String()
}

func (i *drainInjector) check(context.Context) error { return nil }

func (i *drainInjector) inject(ctx context.Context) (time.Time, error) {
	if err := i.cp.PutDrain(ctx, i.d); err != nil {
		// The call may have been cut off after the control plane stored
		// the drain (the plan checked there was none before).
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		i.cp.DeleteDrain(dctx, i.d)
		cancel()
		return time.Time{}, fmt.Errorf("drill: draining %s: %w", schema.DescribeDrain(i.d.GetCluster(), i.d.GetNamespace(), i.d.GetName()), err)
	}
	i.injected = true
	return time.Now(), nil
}

func (i *drainInjector) rollback(ctx context.Context) error {
	if !i.injected {
		return nil
	}
	if err := i.cp.DeleteDrain(ctx, i.d); err != nil {
		return fmt.Errorf("drill: undraining %s: %w (run `meshfed cluster undrain %s`)", schema.DescribeDrain(i.d.GetCluster(), i.d.GetNamespace(), i.d.GetName()), err, i.d.GetCluster())
	}
	i.injected = false
	return nil
}

// gatewayFaultInjector posts a fault to a gateway's admin API (/faults).
type gatewayFaultInjector struct {
	gw    *Gateway
	fault gateway.Fault
	hc    *http.Client
	id    string
}

func (i *gatewayFaultInjector) String() string {
	what := i.fault.Kind
	if i.fault.Kind == FaultLatency {
		what += " +" + i.fault.Latency.D().String()
	}
	if i.fault.Service != "" {
		what += " for " + i.fault.Service
	}
	return fmt.Sprintf("%s on the gateway of cluster %s (POST %s/faults, expiring by itself after %s; rollback DELETE)", what, i.gw.Cluster, i.gw.Admin, i.fault.Duration.D())
}

// check lists the gateway's faults: it must serve the API, and nothing
// of the same kind may be injected already.
func (i *gatewayFaultInjector) check(ctx context.Context) error {
	fs, err := listFaults(ctx, i.hc, i.gw)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.Kind == i.fault.Kind {
			return fmt.Errorf("drill: the gateway of cluster %s already has a %s fault (id %s, until %s): remove it with DELETE %s/faults/%s or wait",
				i.gw.Cluster, f.Kind, f.ID, f.ExpiresAt.Format(time.RFC3339), i.gw.Admin, f.ID)
		}
	}
	return nil
}

func (i *gatewayFaultInjector) inject(ctx context.Context) (time.Time, error) {
	body, err := json.Marshal(i.fault)
	if err != nil {
		return time.Time{}, err
	}
	code, resp, err := adminDo(ctx, i.hc, http.MethodPost, i.gw.Admin+"/faults", body)
	at := time.Now()
	if err != nil {
		return at, fmt.Errorf("drill: injecting %s into the gateway of cluster %s: %w", i.fault.Kind, i.gw.Cluster, err)
	}
	if code != http.StatusCreated {
		return at, fmt.Errorf("drill: the gateway of cluster %s refused the %s fault: %d %s", i.gw.Cluster, i.fault.Kind, code, strings.TrimSpace(string(resp)))
	}
	var f gateway.Fault
	if err := json.Unmarshal(resp, &f); err != nil || f.ID == "" {
		return at, fmt.Errorf("drill: the gateway of cluster %s answered the %s fault with %q", i.gw.Cluster, i.fault.Kind, resp)
	}
	i.id = f.ID
	return at, nil
}

func (i *gatewayFaultInjector) rollback(ctx context.Context) error {
	if i.id == "" {
		return nil
	}
	code, resp, err := adminDo(ctx, i.hc, http.MethodDelete, i.gw.Admin+"/faults/"+i.id, nil)
	if err != nil {
		return fmt.Errorf("drill: removing fault %s from the gateway of cluster %s: %w (it expires by itself at the latest %s after it was injected)", i.id, i.gw.Cluster, err, i.fault.Duration.D())
	}
	// 404: the fault expired already.
	if code != http.StatusNoContent && code != http.StatusNotFound {
		return fmt.Errorf("drill: removing fault %s from the gateway of cluster %s: %d %s", i.id, i.gw.Cluster, code, strings.TrimSpace(string(resp)))
	}
	i.id = ""
	return nil
}

// listFaults reads a gateway's active faults.
func listFaults(ctx context.Context, hc *http.Client, gw *Gateway) ([]gateway.Fault, error) {
	if gw.Admin == "" {
		return nil, fmt.Errorf("drill: no admin address for the gateway of cluster %s", gw.Cluster)
	}
	code, body, err := adminDo(ctx, hc, http.MethodGet, gw.Admin+"/faults", nil)
	if err != nil {
		return nil, fmt.Errorf("drill: the gateway of cluster %s at %s: %w", gw.Cluster, gw.Admin, err)
	}
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		return nil, fmt.Errorf("drill: the gateway of cluster %s at %s does not serve /faults: start it with --enable-faults (admin_faults: true)", gw.Cluster, gw.Admin)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("drill: the gateway of cluster %s at %s: GET /faults: %d %s", gw.Cluster, gw.Admin, code, strings.TrimSpace(string(body)))
	}
	var doc struct {
		Faults []gateway.Fault `json:"faults"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("drill: the gateway of cluster %s: GET /faults: %w", gw.Cluster, err)
	}
	return doc.Faults, nil
}

// adminDo sends one request to a gateway admin port.
func adminDo(ctx context.Context, hc *http.Client, method, target string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, data, err
}
