// Package drill runs failover drills (`meshfed drill run`): declared
// experiments that break one part of a clusterset on purpose, drive or
// observe traffic while it is broken, judge the result against SLO gates,
// and undo the fault.
//
// A Spec (YAML, see docs/drills.md) says what breaks (the fault), where
// (the scope: a cluster, a cluster's copy of one service, or a zone),
// which traffic is measured, for how long, and the gates. Faults go
// through the same interfaces a real deployment has: drains through the
// control plane's admin API, blackhole, latency and trust expiry through
// the gateways' admin port (/faults), and kill, only where `meshfed up`
// started the gateway, by signal.
//
// Use:
//
//	spec, err := drill.ParseSpec("kill.yaml", data)   // or a Spec built from flags
//	env, err := drill.LoadUpEnvironment(dir)          // or drill.SpecEnvironment(spec)
//	r, err := drill.NewRunner(drill.Config{Spec: spec, Env: env, ControlPlane: cp})
//	plan, err := r.Plan(ctx)                          // validates against the live state
//	blast, err := r.DryRun(ctx, plan)                 // changes nothing
//	report, err := r.Run(ctx, plan)                   // injects, measures, rolls back
//
// Run blocks for warmup + duration + restore, and always tries to undo
// the fault before it returns, also when ctx is cancelled. Injected
// gateway faults expire by themselves shortly after the drill's planned
// end, so a runner that dies cannot leave them behind.
//
// The measurements (Analyze) are pure functions of a request log, so they
// are tested on synthetic logs; docs/drills.md defines each one.
package drill
