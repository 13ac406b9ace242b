// Package deploytest checks the deployment files under deploy/ without a
// cluster or a Docker engine: every YAML and JSON file parses, the
// Kubernetes objects fit together, every flag and CUSTREAM_* variable they
// use exists in `custream run -h`, and every metric the dashboard and the
// alert rules query is one custream exports. It holds only tests.
package deploytest
