package aws

import (
	"fmt"
	"net/url"
	"time"

	"github.com/meshfed/meshfed/providers"
)

// Config is the plugin's configuration; zero values mean the defaults.
type Config struct {
	IMDSEndpoint string `json:"imds_endpoint"`
	EKSEndpoint  string `json:"eks_endpoint"`
	Region       string `json:"region"`
	Timeout      string `json:"timeout"`
	MaxAttempts  int    `json:"max_attempts"`

	timeout time.Duration
}

const (
	defaultTimeout     = 2 * time.Second
	defaultMaxAttempts = 3
)

// ParseConfig parses a configuration document strictly: unknown fields,
// bad endpoints and bad durations are errors naming the value.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := providers.DecodeConfig("aws", b, &c); err != nil {
		return Config{}, err
	}
	for name, ep := range map[string]string{"imds_endpoint": c.IMDSEndpoint, "eks_endpoint": c.EKSEndpoint} {
		if ep == "" {
			continue
		}
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Config{}, fmt.Errorf("aws: config: %s %q is not an http(s) URL", name, ep)
		}
	}
	c.timeout = defaultTimeout
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("aws: config: timeout %q is not a positive duration such as \"2s\"", c.Timeout)
		}
		c.timeout = d
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > 10 {
		return Config{}, fmt.Errorf("aws: config: max_attempts %d is not between 1 and 10", c.MaxAttempts)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = defaultMaxAttempts
	}
	return c, nil
}
