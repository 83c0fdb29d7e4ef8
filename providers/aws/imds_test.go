package aws_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeIMDS stands in for the EC2 instance metadata service, IMDSv2 wire
// format: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds
// (1..21600) returns a token; every GET must carry it in
// X-aws-ec2-metadata-token or gets 401.
type fakeIMDS struct {
	srv *httptest.Server

	mu       sync.Mutex
	tokens   map[string]bool // issued and still valid
	puts     int
	files    map[string]string // path -> body
	statuses map[string]int    // path -> forced status
	delay    time.Duration
	reject   bool // refuse every token
}

const identityDoc = `{
  "accountId" : "123456789012",
  "architecture" : "x86_64",
  "availabilityZone" : "eu-west-1a",
  "imageId" : "ami-0abcdef1234567890",
  "instanceId" : "i-1234567890abcdef0",
  "instanceType" : "m5.large",
  "pendingTime" : "2026-11-01T12:00:00Z",
  "privateIp" : "10.0.1.17",
  "region" : "eu-west-1",
  "version" : "2017-09-30"
}`

func newFakeIMDS(t *testing.T) *fakeIMDS {
	f := &fakeIMDS{
		tokens: map[string]bool{},
		files: map[string]string{
			"/latest/dynamic/instance-identity/document":              identityDoc,
			"/latest/meta-data/public-ipv4":                           "203.0.113.10",
			"/latest/meta-data/local-ipv4":                            "10.0.1.17",
			"/latest/meta-data/iam/security-credentials/":             "meshfed-node",
			"/latest/meta-data/iam/security-credentials/meshfed-node": `{"Code":"Success","LastUpdated":"2026-11-22T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAFAKEKEY","SecretAccessKey":"fakesecret","Token":"fakesession","Expiration":"2099-01-01T00:00:00Z"}`,
		},
		statuses: map[string]int{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIMDS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
		if err != nil || ttl < 1 || ttl > 21600 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.puts++
		tok := fmt.Sprintf("token-%d", f.puts)
		f.tokens[tok] = true
		w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", strconv.Itoa(ttl))
		fmt.Fprint(w, tok)
		return
	}
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if f.reject || !f.tokens[r.Header.Get("X-aws-ec2-metadata-token")] {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if code := f.statuses[r.URL.Path]; code != 0 {
		w.WriteHeader(code)
		return
	}
	body, ok := f.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, body)
}

// expireTokens makes every issued token invalid, as when its TTL passed.
func (f *fakeIMDS) expireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.tokens)
}

func (f *fakeIMDS) set(fn func(f *fakeIMDS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// fakeEKS stands in for the EKS API (REST-JSON): GET /clusters and
// GET /clusters/NAME, SigV4-signed with the instance role's key.
func newFakeEKS(t *testing.T, names ...string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=ASIAFAKEKEY/") || r.Header.Get("X-Amz-Security-Token") != "fakesession" {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"message":"missing or wrong signature"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/clusters" {
			fmt.Fprintf(w, `{"clusters":["%s"]}`, strings.Join(names, `","`))
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, "/clusters/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"cluster":{"name":%q,"arn":"arn:aws:eks:eu-west-1:123456789012:cluster/%s","endpoint":"https://%s.gr7.eu-west-1.eks.amazonaws.com","status":"ACTIVE","version":"1.33"}}`, name, name, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}
