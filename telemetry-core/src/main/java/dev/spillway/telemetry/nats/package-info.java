/**
 * Scaling out through NATS JetStream: edges publish one message per batch ({@link
 * dev.spillway.telemetry.nats.NatsSink}), writers consume them into any sink ({@link
 * dev.spillway.telemetry.nats.NatsBatchConsumer}), over a stream and consumer with explicit limits ({@link
 * dev.spillway.telemetry.nats.JetStreamTopology}). Needs {@code io.nats:jnats} on the class path (an optional
 * dependency of telemetry-core).
 */
package dev.spillway.telemetry.nats;
