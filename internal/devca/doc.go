// Package devca is a small X.509 certificate authority for one SPIFFE
// trust domain: it issues X.509-SVIDs (a SPIFFE ID as the only URI SAN,
// plus optional DNS and IP SANs for non-SPIFFE clients) and keeps its key
// and certificate as PEM files in a directory.
//
// It exists so that meshfed works out of the box (the control plane's own
// identities, `meshfed up`) without SPIRE or cert-manager. Production
// clusters bring their own CA; nothing else in meshfed depends on devca.
package devca
