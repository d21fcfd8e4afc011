package dev.spillway.alerting;

import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;

/**
 * Keeps the first {@code limit} bytes of a response body and discards the rest as it streams by, so a receiver
 * that answers with megabytes costs no memory (only the start matters: Slack's error words).
 */
final class HeadOfBody implements HttpResponse.BodySubscriber<String> {

    private final CompletableFuture<String> result = new CompletableFuture<>();
    private final byte[] head;
    private int length;

    HeadOfBody(int limit) {
        this.head = new byte[limit];
    }

    @Override
    public CompletionStage<String> getBody() {
        return result;
    }

    @Override
    public void onSubscribe(Flow.Subscription subscription) {
        subscription.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(List<ByteBuffer> items) {
        for (ByteBuffer b : items) {
            final int n = Math.min(b.remaining(), head.length - length);
            b.get(head, length, n);
            length += n;
        }
    }

    @Override
    public void onError(Throwable throwable) {
        result.completeExceptionally(throwable);
    }

    @Override
    public void onComplete() {
        result.complete(new String(head, 0, length, StandardCharsets.UTF_8));
    }
}
