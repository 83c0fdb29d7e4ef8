package kubetest

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// waitReady polls /readyz until it answers ok and the default namespace
// exists, failing fast with errExited if the process dies.
func (c *Cluster) waitReady() error {
	p := c.running()
	if p == nil {
		return fmt.Errorf("kubetest: %s: %w", c.name, errExited)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("kubetest: %s: %w: %v", c.name, errExited, p.err)
		default:
		}
		if last = checkReady(ctx, cs); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubetest: %s: not ready within %s: %w", c.name, readyTimeout, last)
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkReady reports whether the API server answers /readyz with ok and has
// created the default namespace.
func checkReady(ctx context.Context, cs kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("readyz: %w: %s", err, body)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("default namespace: %w", err)
	}
	return nil
}

// poll calls f every 100 ms until it succeeds or ctx ends.
func poll(ctx context.Context, what string, f func(context.Context) error) error {
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %w)", what, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) clientset() (kubernetes.Interface, error) {
	cs, err := kubernetes.NewForConfig(c.Config())
	if err != nil {
		return nil, fmt.Errorf("kubetest: %s: client: %w", c.name, err)
	}
	return cs, nil
}
