from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path('', views.index, name='index'),
    path('form/', views.form, name='form'),
    path('thanks/', views.thanks, name='thanks'),
    path('upload/', views.upload, name='upload'),
    path('boom/', views.boom, name='boom'),
    path('abs/', views.absolute, name='abs'),
    path('file/', views.download, name='file'),
    path('admin/', admin.site.urls),
]
