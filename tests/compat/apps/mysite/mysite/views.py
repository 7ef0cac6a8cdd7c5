import os

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt


def index(request):
    return HttpResponse(f"django says hello to {request.GET.get('name', 'nobody')}")


@csrf_exempt
def echo(request):
    return HttpResponse(request.body[::-1], content_type="application/octet-stream")


def file(request):
    return FileResponse(open(os.environ["COMPAT_FILE"], "rb"), filename="blob.bin")


def stream(request):
    return StreamingHttpResponse(f"part {n}\n".encode() for n in range(int(request.GET["n"])))


def boom(request):
    raise LookupError("django boom")
