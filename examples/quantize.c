/* The README's example: FP8-quantize a tensor on the device chosen at run time. */
#include <dsa.h>
#include <stdio.h>

int main(void)
{
    dsa_context *ctx;
    if (dsa_context_create("auto", &ctx) != DSA_SUCCESS) { /* or "cpu", "cuda:0", "opencl:nvidia" */
        fprintf(stderr, "libdsa: %s\n", dsa_last_error());
        return 1;
    }
    /* FP8-quantize a [4, 256] fp32 tensor: one power-of-two scale per 128 values. */
    float x[4 * 256];
    for (int i = 0; i < 4 * 256; i++) x[i] = (float)(i % 97) - 48.0f;
    dsa_buffer *xb, *qb, *sb;
    dsa_buffer_alloc(ctx, sizeof x, &xb);
    dsa_buffer_alloc(ctx, 4 * 256, &qb);
    dsa_buffer_alloc(ctx, 4 * 2 * sizeof(float), &sb);
    dsa_buffer_write(xb, 0, x, sizeof x);

    int64_t shape[2] = {4, 256}, sshape[2] = {4, 2};
    dsa_quantize_args a = {
        .x = dsa_tensor_make(xb, 0, DSA_FP32, 2, shape, NULL),
        .q = dsa_tensor_make(qb, 0, DSA_FP8_E4M3, 2, shape, NULL),
        .scales = dsa_tensor_make(sb, 0, DSA_FP32, 2, sshape, NULL),
    };
    dsa_status st = dsa_quantize_fp8(ctx, &a, NULL); /* NULL: use the context's workspace */
    if (st != DSA_SUCCESS) fprintf(stderr, "%s: %s\n", dsa_status_string(st), dsa_last_error());
    dsa_synchronize(ctx);

    float scales[8];
    dsa_buffer_read(sb, 0, scales, sizeof scales);
    printf("first scale: %g\n", scales[0]);
    dsa_buffer_free(xb); dsa_buffer_free(qb); dsa_buffer_free(sb);
    dsa_context_destroy(ctx);
    return st == DSA_SUCCESS ? 0 : 1;
}
