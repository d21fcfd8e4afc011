package dev.spillway.ingest.internal.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.LineBasedFrameDecoder;

import java.util.List;

/**
 * Newline-delimited frames, plus the last line when the stream ends without a newline ({@code printf 'x v=1' |
 * nc}), which the plain decoder would drop silently. A last line over the length limit is dropped and reported
 * like any other over-long line.
 */
final class LastLineDecoder extends LineBasedFrameDecoder {

    private final int maxLength;

    LastLineDecoder(int maxLength) {
        // failFast=false: an over-long line is discarded up to its newline, then reported once.
        super(maxLength, true, false);
        this.maxLength = maxLength;
    }

    @Override
    protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        super.decodeLast(ctx, in, out);
        if (in.isReadable()) {
            final int len = in.readableBytes();
            if (len > maxLength) {
                in.skipBytes(len);
                ctx.fireExceptionCaught(new io.netty.handler.codec.TooLongFrameException(
                    "last line of " + len + " bytes exceeds " + maxLength));
            } else {
                out.add(in.readRetainedSlice(len));
            }
        }
    }
}
