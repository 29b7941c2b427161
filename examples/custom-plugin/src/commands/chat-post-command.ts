import { inject, injectable, type Command, type CommandContext, type StepEvent } from '@beamline/core';
import { Observable } from 'rxjs';
import { z } from 'zod';
import { WebhookClientToken } from '../tokens.js';
import { chatLiteral, MAX_MESSAGE_CHARS } from '../notifier/chat-text.js';
import type { WebhookClient } from '../webhook/webhook-client.js';

const chatPostParams = z.strictObject({
  /** The message; shown literally (no mentions, no links made from `<…>`), secrets redacted. */
  text: z.string().min(1).max(MAX_MESSAGE_CHARS),
});

/** Parameters of `chat.post`. */
export type ChatPostParams = z.output<typeof chatPostParams>;

/**
 * `uses: chat.post`: posts a message from a pipeline step (a result, a link to the artifacts). Its
 * output `attempts` says how many posts it took. The step's result is cached like any step's: the same
 * text is not posted again by a re-run or a resume (`cache: false` posts every time).
 */
@injectable()
export class ChatPostCommand implements Command<ChatPostParams> {
  readonly name = 'chat.post';
  readonly version = '1';
  readonly description = 'post a message to the chat webhook';
  readonly params = chatPostParams;

  constructor(@inject(WebhookClientToken) private readonly client: WebhookClient) {}

  /** The post never uses the step's runner: where the step would have run is not part of its key. */
  runnerIdentity(): null {
    return null;
  }

  execute(ctx: CommandContext, { text }: ChatPostParams): Observable<StepEvent> {
    return new Observable<StepEvent>((subscriber) => {
      // Unsubscribing (the engine's last resort) aborts the request as the step's signal does.
      const stop = new AbortController();
      const signal = AbortSignal.any([ctx.signal, stop.signal]);
      this.client.post(chatLiteral(text, true), signal).then(
        (receipt) => {
          subscriber.next({
            type: 'log',
            stream: 'system',
            text: `posted to ${this.client.target} (HTTP ${receipt.status}, ${receipt.attempts} attempt(s))\n`,
          });
          subscriber.next({ type: 'outputs', outputs: { attempts: receipt.attempts } });
          subscriber.complete();
        },
        (error: unknown) => subscriber.error(error),
      );
      return () => stop.abort();
    });
  }
}
