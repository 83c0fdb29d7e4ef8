package agent

import (
	"testing"

	"go.uber.org/goleak"
	"k8s.io/client-go/rest"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

type meshfedClient = meshfedv1.GatewayServiceClient

var restConfigStub = rest.Config{Host: "https://127.0.0.1:1"}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
