// Package bluegreen is zero-downtime blue/green deployment (marathon-lb's
// zdd.py, spec §9): it prepares the new colour of an app, grows it in
// Marathon while the load balancer drains the old colour's servers (the LB
// side is package sync's deployment-group merge, §3.2), kills old tasks
// once HAProxy reports them drained, and deletes the old colour.
//
// It owns the algorithm (pure functions: prepare, next size, deletable,
// tasks to kill) and the Deployer that drives Marathon through a small
// interface. It never configures HAProxy, never reloads it, never counts
// its processes and never touches iptables: it only reads drain state
// (Runtime API "show stat", or the stats CSV page) and scales apps.
package bluegreen
