// Package deploy holds rulekeeper's Kubernetes packaging: the Helm chart in
// helm/rulekeeper and rulekeeper.yaml, the chart rendered with its default
// values for `kubectl apply` without Helm. It has no Go code; its test
// renders the chart (default and production values) and decodes every
// object strictly into the Kubernetes API types, so that a typo in a
// template or a values file fails `make test`.
package deploy
