// Package kafkatest gives tests a Kafka cluster, always the same way, so
// that every integration test runs unchanged on a real broker in CI and on a
// laptop without one.
//
// The backend of Start is chosen once per test binary:
//
//  1. CUSTREAM_TEST_BROKERS set (comma-separated seeds): the real Apache
//     Kafka broker that `make test` and .ci/run start from Maven jars
//     (deploy/kafka-local).
//  2. Otherwise, a Docker daemon that answers: testcontainers-go's Kafka
//     module starts one container for the test binary.
//  3. Otherwise: an in-process kfake cluster per test. kfake speaks
//     transactions, read_committed and consumer groups, but it is not Apache
//     Kafka; each test logs which backend ran, and `make test` says so too.
//
// # A broker of one's own, for faults
//
// The broker of Start is shared by every test package running at the same
// time, so no test may pause or kill it. OwnBroker starts a real Apache
// Kafka broker for one test alone, with deploy/kafka-local/kafka-local.sh
// in a run dir under t.TempDir (127.0.0.1, free ports, -Xmx512m):
//
//	b := kafkatest.OwnBroker(t, kafkatest.BrokerProps("log.segment.bytes=65536"))
//	cl := b.Client(t)  // b embeds a Cluster: b.Brokers, b.Client, b.Admin
//	b.Pause(t)         // SIGSTOP: connections stay open, nothing answers
//	b.Resume(t)        // SIGCONT
//	b.Kill(t)          // SIGKILL, as a crash; data and address kept
//	b.Restart(t)       // same address, same data; returns once it answers
//
// Start and Restart return once the script saw the broker log that it
// started (it does so after the controller unfenced it) and answer an
// ApiVersions request, and the broker then answers a metadata request that
// names it at its address; no fixed sleeps. Restart after Kill waits until
// the killed broker's session has expired (broker.session.timeout.ms, 9 s
// unless lowered with BrokerProps). When the test ends the broker is
// resumed if paused, stopped, checked to be gone, and its data removed; if
// the test binary dies first, the script kills the broker by itself.
// OwnBroker skips the test under -short and where java (or mvn, before the
// jars are resolved) is missing.
package kafkatest
