package api

import (
	"context"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/federation/store"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Limits of ListDrillReports.
const (
	// DefaultDrillReportLimit is how many summaries a zero limit returns.
	DefaultDrillReportLimit = 100
	// MaxDrillReportLimit is the largest limit honoured; larger ones are
	// lowered to it (the store keeps no more reports anyway).
	MaxDrillReportLimit = store.MaxDrillReports
)

// PutDrillReport stores a drill run's report after validating it. An id
// already stored is AlreadyExists; reports are never replaced.
func (a *Admin) PutDrillReport(ctx context.Context, req *meshfedv1.PutDrillReportRequest) (*meshfedv1.PutDrillReportResponse, error) {
	if err := schema.ValidateDrillReport(req.GetReport()); err != nil {
		return nil, toStatus(err)
	}
	r, _, err := a.store.PutDrillReport(ctx, req.GetReport())
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.PutDrillReportResponse{Report: r}, nil
}

// GetDrillReport returns one report with its JSON document.
func (a *Admin) GetDrillReport(ctx context.Context, req *meshfedv1.GetDrillReportRequest) (*meshfedv1.GetDrillReportResponse, error) {
	if err := schema.ValidateDrillReportID(req.GetId()); err != nil {
		return nil, toStatus(err)
	}
	r, err := a.store.GetDrillReport(ctx, req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.GetDrillReportResponse{Report: r}, nil
}

// ListDrillReports returns report summaries (no documents), newest
// started_at first: limit of them, DefaultDrillReportLimit when it is 0,
// at most MaxDrillReportLimit. A negative limit is InvalidArgument.
func (a *Admin) ListDrillReports(ctx context.Context, req *meshfedv1.ListDrillReportsRequest) (*meshfedv1.ListDrillReportsResponse, error) {
	limit := int(req.GetLimit())
	switch {
	case limit < 0:
		return nil, invalid("limit %d is negative (0 means %d, at most %d)", limit, DefaultDrillReportLimit, MaxDrillReportLimit)
	case limit == 0:
		limit = DefaultDrillReportLimit
	case limit > MaxDrillReportLimit:
		limit = MaxDrillReportLimit
	}
	rs, err := a.store.ListDrillReports(ctx, limit)
	if err != nil {
		return nil, toStatus(err)
	}
	return &meshfedv1.ListDrillReportsResponse{Reports: rs}, nil
}
