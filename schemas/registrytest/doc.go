// Package registrytest gives tests a Confluent-compatible schema registry,
// always the same way, so that the registry tests run unchanged on a real
// registry in CI and on a laptop without Java.
//
// The backend of Start is chosen once per test binary:
//
//  1. CUSTREAM_TEST_REGISTRY set (a URL): the real registry that `make
//     test` and .ci/run start (Apicurio Registry, in memory, its
//     Confluent-compatible API at /apis/ccompat/v7;
//     deploy/registry-local). It checks compatibility as deployed
//     registries do. Shared by every test package running at the same
//     time: tests use subjects of their own (unique topic names).
//  2. Otherwise: franz-go's in-process srfake, one per test. It speaks the
//     same REST API but checks no compatibility, so a test that needs a
//     refusal asks for it (Registry.Real, or an srfake interceptor).
//
// Each test logs which backend it ran on.
//
// Around either backend, a test can put the registry as deployments meet
// it: Registry.AuthProxy serves it over TLS (a CA file for
// --schema-registry-ca) and answers 401 unless the request carries the
// expected Authorization header; Registry.Later gives a URL where nothing
// answers until Up, for "registry down at start". Python finds the
// interpreter with confluent-kafka for the interop check
// (deploy/interop/read_outputs.py).
package registrytest
