package dev.spillway.ingest.internal.http;

import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * What {@link RequestAssembler} hands to {@link HttpApiHandler}, one item per request in arrival order, so every
 * request gets its answer in that order, refusals included.
 */
sealed interface Inbound {

    /** HTTP method, for HEAD handling and logs. */
    HttpMethod method();

    /** Request bytes held in the {@link BufferBudget} until the answer is written. */
    long reserved();

    /** A whole request, copied out of Netty's buffers so it can wait in the queue or move to another thread. */
    record Request(HttpMethod method, String uri, HttpHeaders headers, byte[] body, int length, boolean keepAlive,
                   long reserved) implements Inbound {
    }

    /**
     * A request answered without being processed (malformed, too large, no room to buffer it). The connection is
     * closed after the answer when {@code close}, because the rest of the input cannot be trusted or read.
     */
    record Refusal(HttpMethod method, String uri, HttpResponseStatus status, String code, String message,
                   boolean close) implements Inbound {
        @Override
        public long reserved() {
            return 0;
        }
    }

    /** The client waits for {@code 100 Continue} before sending the body; sent once earlier answers are out. */
    record Continue(HttpMethod method) implements Inbound {
        @Override
        public long reserved() {
            return 0;
        }
    }
}
