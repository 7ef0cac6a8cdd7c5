from django.contrib import admin
from django.urls import path

from mysite import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", views.index),
    path("echo/", views.echo),
    path("file/", views.file),
    path("stream/", views.stream),
    path("boom/", views.boom),
]
