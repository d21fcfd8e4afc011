package dev.spillway.ingest;

import dev.spillway.ingest.lineprotocol.LineHandler;
import dev.spillway.ingest.lineprotocol.LineProtocolParser;
import dev.spillway.ingest.lineprotocol.ParsedPoint;
import dev.spillway.ingest.lineprotocol.Precision;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The byte comparison that picks heartbeat lines agrees with the measurement's String, escapes and UTF-8 included. */
class HeartbeatMeasurementTest {

    @Test
    void matchesExactlyTheLinesWhoseMeasurementIsHeartbeat() {
        final String body = String.join("\n",
            "heartbeat,service=a status=1i",
            "heartbeats,service=a status=1i",
            "heartbea,service=a status=1i",
            "Heartbeat,service=a status=1i",
            "heart\\ beat,service=a status=1i",
            "h\\eartbeat,service=a status=1i",
            "h\u00e9artbeat,service=a status=1i",
            "heartbeat status=0i 1700000000000000000",
            "cpu,host=heartbeat heartbeat=1",
            "");
        final List<Boolean> byBytes = new ArrayList<>();
        final List<Boolean> byString = new ArrayList<>();
        final byte[] buf = body.getBytes(StandardCharsets.UTF_8);
        new LineProtocolParser().parse(buf, 0, buf.length, Precision.NANOSECONDS, 0, new LineHandler() {
            @Override
            public void onPoint(ParsedPoint p) {
                byBytes.add(LineIngestor.heartbeatMeasurement(p));
                byString.add(HeartbeatLines.MEASUREMENT.equals(p.measurement()));
            }

            @Override
            public void onError(int lineNumber, String message) {
                throw new AssertionError("line " + lineNumber + ": " + message);
            }
        });
        assertEquals(List.of(true, false, false, false, false, false, false, true, false), byBytes);
        assertEquals(byString, byBytes);
    }
}
