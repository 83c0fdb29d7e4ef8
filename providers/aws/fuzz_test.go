package aws_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/meshfed/meshfed/providers/aws"
)

// FuzzIdentityDocument: whatever the metadata service answers, the plugin
// returns an error or a locality whose zone is in its region.
func FuzzIdentityDocument(f *testing.F) {
	f.Add([]byte(identityDoc))
	f.Add([]byte(`{"region":"eu-west-1","availabilityZone":"us-east-1a"}`))
	f.Add([]byte(`{"region":"","availabilityZone":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d imds.InstanceIdentityDocument
		if json.Unmarshal(b, &d) != nil {
			return
		}
		resp, err := aws.LocalityFromDocument(d)
		if err != nil {
			return
		}
		l := resp.GetLocality()
		if l.GetProvider() != "aws" || l.GetRegion() == "" || !strings.HasPrefix(l.GetZone(), l.GetRegion()) {
			t.Fatalf("accepted %+v from %q", l, b)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"imds_endpoint":"http://127.0.0.1:1","timeout":"2s","max_attempts":2}`))
	f.Add([]byte(`{"eks_endpoint":"ftp://x"}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := aws.ParseConfig(b)
		if err == nil && (c.MaxAttempts < 1 || c.MaxAttempts > 10) {
			t.Fatalf("accepted max_attempts %d", c.MaxAttempts)
		}
	})
}
