// Package kafkatest gives tests a Kafka cluster, always the same way, so
// that every integration test runs unchanged on a real broker in CI and on a
// laptop without one.
//
// The backend is chosen once per test binary:
//
//  1. CUSTREAM_TEST_BROKERS set (comma-separated seeds): the real Apache
//     Kafka broker that `make test` and .ci/run start from Maven jars
//     (deploy/kafka-local).
//  2. Otherwise, a Docker daemon that answers: testcontainers-go's Kafka
//     module starts one container for the test binary.
//  3. Otherwise: an in-process kfake cluster per test. kfake speaks
//     transactions, read_committed and consumer groups, but it is not Apache
//     Kafka; each test logs which backend ran, and `make test` says so too.
package kafkatest
